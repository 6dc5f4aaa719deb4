//! Typed records: a schema (JSON, as service definitions declare it), then bytes. The bytes are
//! decoded as task inputs, outputs and event data are checked when they land on chain; the same
//! bytes read as JSON go through `value_from_json`, as the CLI and the runner agent build records.
//! The input is split at the first 0xff byte: schema before it, record after.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::split_once;
use runnet_types::record::Schema;

fuzz_target!(|data: &[u8]| {
    let (head, record) = split_once(data);
    let Ok(schema) = serde_json::from_slice::<Schema>(head) else {
        return;
    };
    // Only validated schemas reach records: a definition with any other is refused.
    if schema.validate().is_err() {
        return;
    }
    let decoded = schema.decode(record);
    assert_eq!(decoded.is_ok(), schema.check_bytes(record).is_ok());
    if let Ok(value) = decoded {
        // Canonical: one value, one encoding.
        assert_eq!(schema.encode(&value).as_deref(), Ok(record));
        // What the node shows as JSON reads back to the same record.
        let shown = value.to_json();
        let back = schema
            .value_from_json(&shown)
            .expect("shown JSON reads back");
        assert_eq!(schema.encode(&back).as_deref(), Ok(record));
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(record)
        && let Ok(value) = schema.value_from_json(&json)
    {
        let bytes = schema
            .encode(&value)
            .expect("a value read from JSON encodes");
        assert!(schema.check_bytes(&bytes).is_ok());
    }
});
