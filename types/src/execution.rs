//! The vocabulary of executions: what a runner reports, what a verifier answers, and the
//! commitments that hide both until everyone has committed (docs/economy.md, "The execution
//! lifecycle").

use crate::address::Address;
use crate::encoding::hash_of;
use crate::hash::Hash;
use serde::{Deserialize, Serialize};

/// What running a task produced: output record bytes, or an error message the task (or the VM,
/// see below) returned. An error result is verified like outputs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskResult {
    Output(Vec<u8>),
    Error(Vec<u8>),
}

impl TaskResult {
    pub fn len(&self) -> usize {
        match self {
            TaskResult::Output(b) | TaskResult::Error(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The result the deterministic VM's own failures map to, so a runner, its verifiers and the
    /// chain's re-run all report the same bytes for a task that traps or runs out of fuel.
    pub fn vm_failure(code: &str) -> TaskResult {
        TaskResult::Error(format!("vm:{code}").into_bytes())
    }
}

/// A drawn verifier's answer: the outputs it got by re-running a deterministic task, or the
/// verdict of a public_effect service's check task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Rerun(TaskResult),
    Check { valid: bool },
}

/// `blake3(result, salt, runner owner address)`: binding, and useless to anyone else, since
/// another party's address gives another hash.
pub fn result_commitment(result: &TaskResult, salt: &Hash, owner: &Address) -> Hash {
    hash_of(&(result, salt, owner))
}

/// `blake3(verdict, salt, verifier owner address)`.
pub fn verdict_commitment(verdict: &Verdict, salt: &Hash, owner: &Address) -> Hash {
    hash_of(&(verdict, salt, owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_bind_result_salt_and_committer() {
        let result = TaskResult::Output(vec![1, 2]);
        let salt = Hash([1; 32]);
        let a = Address([1; 20]);
        let c = result_commitment(&result, &salt, &a);
        assert_ne!(
            c,
            result_commitment(&TaskResult::Output(vec![1, 3]), &salt, &a)
        );
        assert_ne!(
            c,
            result_commitment(&TaskResult::Error(vec![1, 2]), &salt, &a)
        );
        assert_ne!(c, result_commitment(&result, &Hash([2; 32]), &a));
        assert_ne!(c, result_commitment(&result, &salt, &Address([2; 20])));
        let verdict = Verdict::Check { valid: true };
        assert_ne!(
            verdict_commitment(&verdict, &salt, &a),
            verdict_commitment(&Verdict::Check { valid: false }, &salt, &a)
        );
    }
}
