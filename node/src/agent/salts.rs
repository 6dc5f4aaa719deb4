//! `agent/salts.json` in the home: every answer this node committed to and has not revealed yet,
//! with its salt.
//!
//! An entry is written (to a temporary file, synced, renamed over the old one, the folder
//! synced) before the commit transaction leaves the node, and dropped once the execution is
//! final. A node killed between commit and reveal finds its answer and salt here on restart and
//! reveals them: without them the commitment could never be opened and the node would be slashed.
//! The salt itself is derived from the account key and the execution, so a lost file loses the
//! answer (an external program may not give the same one twice), never the secret.

use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::{Hash, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "salts.json";
/// A file larger than this is not ours.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What this node answered: a result as the runner, or a verdict as a drawn verifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Result(TaskResult),
    Verdict(Verdict),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// This node's runner that committed.
    pub runner: Hash,
    pub salt: Hash,
    pub answer: Answer,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    secrets: BTreeMap<Hash, Secret>,
}

pub struct SaltStore {
    path: PathBuf,
    secrets: BTreeMap<Hash, Secret>,
}

impl SaltStore {
    /// Opens (or starts) `dir/salts.json`. A file that cannot be read is an error naming it:
    /// silently starting afresh would forfeit the reveals it holds.
    pub fn open(dir: &Path) -> Result<SaltStore, String> {
        let path = dir.join(FILE);
        let shown = path.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let secrets = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{shown}: {e}")),
            Ok(meta) if meta.len() > MAX_FILE_BYTES => {
                return Err(format!(
                    "{shown}: {} bytes, more than {MAX_FILE_BYTES}: not a salts file",
                    meta.len()
                ));
            }
            Ok(_) => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
                let file: File = serde_json::from_str(&text).map_err(|e| {
                    format!(
                        "{shown}: not a salts file ({e}); it holds the answers this node must still \
                         reveal: repair it, or move it away to give them up"
                    )
                })?;
                if file.version != 1 {
                    return Err(format!("{shown}: unknown version {}", file.version));
                }
                file.secrets
            }
        };
        Ok(SaltStore { path, secrets })
    }

    pub fn get(&self, execution: &Hash) -> Option<&Secret> {
        self.secrets.get(execution)
    }

    pub fn executions(&self) -> impl Iterator<Item = &Hash> {
        self.secrets.keys()
    }

    /// Records a secret; on disk when this returns `Ok`.
    pub fn put(&mut self, execution: Hash, secret: Secret) -> Result<(), String> {
        if self.secrets.get(&execution) == Some(&secret) {
            return Ok(());
        }
        let previous = self.secrets.insert(execution, secret);
        self.save().inspect_err(|_| {
            // Keep memory and disk saying the same thing.
            match previous {
                Some(p) => self.secrets.insert(execution, p),
                None => self.secrets.remove(&execution),
            };
        })
    }

    pub fn remove(&mut self, execution: &Hash) -> Result<(), String> {
        if self.secrets.remove(execution).is_none() {
            return Ok(());
        }
        self.save()
    }

    fn save(&self) -> Result<(), String> {
        let file = File {
            version: 1,
            secrets: self.secrets.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        write_atomically(&self.path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// Temporary file, sync, rename, sync the folder: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The salt for `runner`'s commitment on `execution`: a keyed hash under a key derived from the
/// account's secret, so nobody else can predict it and the node can always derive it again.
pub fn derive_salt(account: &SecretKey, execution: &Hash, runner: &Hash) -> Hash {
    let key = blake3::derive_key("runnet agent commitment salt v1", &account.seed());
    let mut hasher = blake3::Hasher::new_keyed(&key);
    hasher.update(&execution.0);
    hasher.update(&runner.0);
    Hash(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(n: u8) -> Secret {
        Secret {
            runner: Hash([n; 32]),
            salt: Hash([n + 1; 32]),
            answer: if n.is_multiple_of(2) {
                Answer::Result(TaskResult::Output(vec![n, 2, 3]))
            } else {
                Answer::Verdict(Verdict::Check { valid: true })
            },
        }
    }

    #[test]
    fn secrets_survive_a_reopen_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        assert_eq!(store.executions().count(), 0);
        store.put(Hash([1; 32]), secret(2)).unwrap();
        store.put(Hash([2; 32]), secret(3)).unwrap();
        let again = SaltStore::open(dir.path()).unwrap();
        assert_eq!(again.executions().count(), 2);
        assert_eq!(again.get(&Hash([1; 32])), Some(&secret(2)));
        assert_eq!(again.get(&Hash([2; 32])), Some(&secret(3)));
        store.remove(&Hash([1; 32])).unwrap();
        let again = SaltStore::open(dir.path()).unwrap();
        assert_eq!(
            again.executions().copied().collect::<Vec<_>>(),
            vec![Hash([2; 32])]
        );
        assert!(!dir.path().join("salts.json.tmp").exists());
    }

    #[test]
    fn a_broken_file_is_refused_by_name_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        for bad in [
            "{",
            "[]",
            r#"{"version": 2, "secrets": {}}"#,
            r#"{"version": 1}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = SaltStore::open(dir.path()).err().unwrap();
            assert!(err.contains("salts.json"), "{bad}: {err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }

    #[test]
    fn salts_are_secret_and_stable() {
        let a = SecretKey::from_seed([1; 32]);
        let b = SecretKey::from_seed([2; 32]);
        let (x, r) = (Hash([7; 32]), Hash([8; 32]));
        assert_eq!(derive_salt(&a, &x, &r), derive_salt(&a, &x, &r));
        assert_ne!(derive_salt(&a, &x, &r), derive_salt(&b, &x, &r));
        assert_ne!(derive_salt(&a, &x, &r), derive_salt(&a, &r, &x));
    }
}
