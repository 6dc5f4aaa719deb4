//! Service definitions: the canonical JSON bytes a `PublishService` transaction carries, parsed
//! and validated as the state machine does, and the JSON file a developer writes, which the CLI
//! parses, validates and republishes in canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_types::genesis::Params;
use runnet_types::service::{ServiceDefinition, Verification};

fuzz_target!(|data: &[u8]| {
    let limits = Params::default().definition_limits();
    if let Ok(definition) = ServiceDefinition::from_canonical_bytes(data, &limits) {
        assert_eq!(definition.to_canonical_bytes(), data);
        for task in &definition.tasks {
            assert!(task.inputs.validate().is_ok() && task.outputs.validate().is_ok());
            if let Verification::PublicEffect { check } = &task.verification {
                assert!(
                    definition.task(check).is_some(),
                    "a check task that is not there"
                );
            }
        }
    }
    // Any definition that validates, however it was written, publishes: its canonical bytes are
    // accepted unless they are over the size limit.
    let Ok(written) = serde_json::from_slice::<ServiceDefinition>(data) else {
        return;
    };
    if written.validate(&limits).is_err() {
        return;
    }
    let canonical = written.to_canonical_bytes();
    match ServiceDefinition::from_canonical_bytes(&canonical, &limits) {
        Ok(published) => assert_eq!(published, written),
        Err(error) => assert!(canonical.len() > limits.max_definition_bytes, "{error}"),
    }
});
