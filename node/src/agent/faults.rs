//! The faulty modes of `[[runner]] mode` (config.rs): answers that are wrong on purpose, so the
//! chain's verification can be watched catching them.
//!
//! A wrong result must still be a valid record of the task's output schema and fit its
//! `max_output_bytes`: a malformed one would be refused at reveal (`invalid_result`) and punished
//! as a missed deadline, not caught as a wrong answer.

use runnet_state::objects::VerificationKind;
use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::record::{Schema, Value};

/// A result that differs from `honest` and still passes the chain's checks when it can: the
/// first int, bool, string or bytes field of the output record changed; otherwise an error result.
pub fn wrong_result(honest: &TaskResult, outputs: &Schema, max_output_bytes: usize) -> TaskResult {
    if let TaskResult::Output(bytes) = honest
        && let Ok(mut value) = outputs.decode(bytes)
        && alter(&mut value)
        && let Ok(wrong) = outputs.encode(&value)
        && wrong != *bytes
        && wrong.len() <= max_output_bytes
    {
        return TaskResult::Output(wrong);
    }
    let mut message = b"wrong".to_vec();
    if let TaskResult::Error(e) = honest
        && *e == message
    {
        message = b"wrong!".to_vec();
    }
    message.truncate(max_output_bytes.max(1));
    TaskResult::Error(message)
}

/// Changes the first scalar it finds, depth first in field order.
fn alter(value: &mut Value) -> bool {
    match value {
        Value::Int(v) => {
            *v = v.wrapping_add(1);
            true
        }
        Value::Bool(b) => {
            *b = !*b;
            true
        }
        Value::String(s) => {
            if s.pop().is_none() {
                s.push('x');
            }
            true
        }
        Value::Bytes(b) => {
            if b.pop().is_none() {
                b.push(0);
            }
            true
        }
        Value::List(items) => items.iter_mut().any(alter),
        Value::Optional(Some(inner)) => alter(inner),
        Value::Optional(None) => false,
        Value::Record(fields) => fields.values_mut().any(alter),
    }
}

/// What an always-invalid verifier says: a re-run that disagrees with anything an honest runner
/// reports, or a check that fails.
pub fn invalid_verdict(kind: VerificationKind) -> Verdict {
    match kind {
        VerificationKind::PublicEffect => Verdict::Check { valid: false },
        _ => Verdict::Rerun(TaskResult::Error(b"always_invalid".to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::record::FieldType;

    #[test]
    fn wrong_results_still_fit_the_schema_and_differ() {
        let schema = Schema::new([("sum", FieldType::Int)]);
        let honest = TaskResult::Output(42i64.to_le_bytes().to_vec());
        let wrong = wrong_result(&honest, &schema, 64);
        assert_eq!(wrong, TaskResult::Output(43i64.to_le_bytes().to_vec()));

        let nested = Schema::new([
            ("flags", FieldType::List(Box::new(FieldType::Bool))),
            ("name", FieldType::String),
        ]);
        let empty_list_and_text = {
            let mut b = 0u32.to_le_bytes().to_vec();
            b.extend_from_slice(&2u32.to_le_bytes());
            b.extend_from_slice(b"ab");
            b
        };
        let honest = TaskResult::Output(empty_list_and_text.clone());
        let TaskResult::Output(wrong) = wrong_result(&honest, &nested, 64) else {
            panic!("an output was expected");
        };
        assert_ne!(wrong, empty_list_and_text);
        nested.check_bytes(&wrong).unwrap();
    }

    #[test]
    fn when_no_output_can_be_altered_the_result_is_an_error() {
        let empty = Schema::default();
        let honest = TaskResult::Output(Vec::new());
        assert_eq!(
            wrong_result(&honest, &empty, 64),
            TaskResult::Error(b"wrong".to_vec())
        );
        let honest = TaskResult::Error(b"wrong".to_vec());
        assert_ne!(wrong_result(&honest, &empty, 64), honest);
        // Too large an altered output would be refused at reveal: an error result instead.
        let schema = Schema::new([("s", FieldType::String)]);
        let honest = TaskResult::Output(0u32.to_le_bytes().to_vec());
        assert_eq!(
            wrong_result(&honest, &schema, 4),
            TaskResult::Error(b"wron".to_vec())
        );
    }

    #[test]
    fn invalid_verdicts_fit_their_kind() {
        assert_eq!(
            invalid_verdict(VerificationKind::PublicEffect),
            Verdict::Check { valid: false }
        );
        assert!(matches!(
            invalid_verdict(VerificationKind::WasmRerun),
            Verdict::Rerun(TaskResult::Error(_))
        ));
    }
}
