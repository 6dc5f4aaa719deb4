//! `agent/salts.json` and `agent/answers/` in the home: every answer this node committed to and
//! has not revealed yet, with its salt.
//!
//! An entry is on disk before the commit transaction leaves the node, and dropped once the
//! execution is final (or gone from the state). A node killed between commit and reveal finds its
//! answer and salt here on restart and reveals them: without them the commitment could never be
//! opened and the node would be slashed. The salt itself is derived from the account key and the
//! execution, so a lost file loses the answer (an external program may not give the same one
//! twice), never the secret.
//!
//! Layout (version 2). `salts.json` is a compact index: per execution the runner, the salt and the
//! answer, whose bytes are inline hex when short and otherwise `answers/DIGEST`, a file of the
//! raw bytes named by their blake3 digest. A change rewrites only the index (a few hundred bytes
//! per open answer), never the answers, so a busy runner's writes stay small. Every file is
//! written to a temporary name, synced, renamed into place and its folder synced: a crash leaves
//! the old file or the new one. An answer file is written before the index that names it, and
//! deleted only after an index without it is in place; `open` deletes answer files no index
//! names (what such a crash leaves).
//!
//! Restart-safety rests on one rule: `put` refuses, before anything is committed, what `open`
//! would refuse (an answer larger than a transaction can carry, an index over its bound). So
//! whatever this node wrote it can read again, and a refused `put` means no commitment was sent,
//! never one that cannot be opened.
//!
//! Version 1 (one pretty-printed file, bytes as arrays of numbers, rewritten whole on every
//! change) is read once, up to [`LEGACY_MAX_FILE_BYTES`], and rewritten as version 2.

use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::{Hash, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "salts.json";
/// The folder, next to `FILE`, of answers too long to keep inline.
pub const ANSWERS: &str = "answers";
/// A reveal carries its answer inside one transaction: a longer answer could never be revealed.
pub const MAX_ANSWER_BYTES: usize = runnet_types::tx::MAX_TX_BYTES;
/// Answers up to this long live in the index as hex; longer ones get a file of their own. Small
/// enough that rewriting the index stays cheap, large enough for the usual few-byte results.
const INLINE_ANSWER_BYTES: usize = 256;
/// The index `put` will write, and `open` will read: about 80,000 open answers.
const MAX_INDEX_BYTES: u64 = 64 << 20;
/// A version 1 file written by an earlier node had no bound of its own (a few dozen large answers
/// took more than 64 MiB); it is streamed, not held twice, so a generous bound is affordable.
const LEGACY_MAX_FILE_BYTES: u64 = 4 << 30;
const VERSION: u32 = 2;

/// What this node answered: a result as the runner, or a verdict as a drawn verifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Result(TaskResult),
    Verdict(Verdict),
}

impl Answer {
    /// The bytes it carries (none for a check's verdict).
    fn len(&self) -> usize {
        match self {
            Answer::Result(r) | Answer::Verdict(Verdict::Rerun(r)) => r.len(),
            Answer::Verdict(Verdict::Check { .. }) => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// This node's runner that committed.
    pub runner: Hash,
    pub salt: Hash,
    pub answer: Answer,
}

/// Where an answer's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Bytes {
    Hex(String),
    /// `answers/DIGEST`.
    File(Hash),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StoredResult {
    Output(Bytes),
    Error(Bytes),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StoredAnswer {
    Result(StoredResult),
    Rerun(StoredResult),
    Check { valid: bool },
}

/// One index entry: a [`Secret`] with its bytes referred to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    runner: Hash,
    salt: Hash,
    answer: StoredAnswer,
}

impl Stored {
    fn file(&self) -> Option<Hash> {
        let result = match &self.answer {
            StoredAnswer::Result(r) | StoredAnswer::Rerun(r) => r,
            StoredAnswer::Check { .. } => return None,
        };
        match result {
            StoredResult::Output(Bytes::File(d)) | StoredResult::Error(Bytes::File(d)) => Some(*d),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    version: u32,
    secrets: BTreeMap<Hash, Stored>,
}

/// Version 1: the secrets themselves, bytes as arrays of numbers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFile {
    version: u32,
    secrets: BTreeMap<Hash, Secret>,
}

/// Just the version, whatever else the file holds.
#[derive(Deserialize)]
struct Versioned {
    version: u32,
}

pub struct SaltStore {
    /// The `agent` folder.
    dir: PathBuf,
    secrets: BTreeMap<Hash, Secret>,
    /// The same entries as the index on disk has them.
    stored: BTreeMap<Hash, Stored>,
}

impl SaltStore {
    /// Opens (or starts) the store in `dir`. A file that cannot be read is an error naming it:
    /// silently starting afresh would forfeit the reveals it holds.
    pub fn open(dir: &Path) -> Result<SaltStore, String> {
        let answers = dir.join(ANSWERS);
        std::fs::create_dir_all(&answers).map_err(|e| format!("{}: {e}", answers.display()))?;
        let mut store = SaltStore {
            dir: dir.to_path_buf(),
            secrets: BTreeMap::new(),
            stored: BTreeMap::new(),
        };
        let index = dir.join(FILE);
        match read_version(&index)? {
            None => {}
            Some(1) => store.migrate(read_legacy(&index)?)?,
            Some(VERSION) => store.load(read_index(&index)?)?,
            Some(other) => return Err(format!("{}: unknown version {other}", index.display())),
        }
        store.sweep();
        Ok(store)
    }

    pub fn get(&self, execution: &Hash) -> Option<&Secret> {
        self.secrets.get(execution)
    }

    pub fn executions(&self) -> impl Iterator<Item = &Hash> {
        self.secrets.keys()
    }

    /// Records a secret; on disk when this returns `Ok`. Refuses an answer no transaction could
    /// reveal, before anything is written.
    pub fn put(&mut self, execution: Hash, secret: Secret) -> Result<(), String> {
        if self.secrets.get(&execution) == Some(&secret) {
            return Ok(());
        }
        let stored = self.store(&secret)?;
        let previous = self.stored.insert(execution, stored.clone());
        if let Err(e) = self.save_index() {
            // Keep memory and disk saying the same thing.
            match previous {
                Some(p) => self.stored.insert(execution, p),
                None => self.stored.remove(&execution),
            };
            self.delete_unnamed(stored.file());
            return Err(e);
        }
        self.secrets.insert(execution, secret);
        self.delete_unnamed(previous.and_then(|p| p.file()));
        Ok(())
    }

    pub fn remove(&mut self, execution: &Hash) -> Result<(), String> {
        let Some(stored) = self.stored.remove(execution) else {
            return Ok(());
        };
        if let Err(e) = self.save_index() {
            self.stored.insert(*execution, stored);
            return Err(e);
        }
        self.secrets.remove(execution);
        self.delete_unnamed(stored.file());
        Ok(())
    }

    /// The index entry for `secret`, its answer file written first when it needs one.
    fn store(&self, secret: &Secret) -> Result<Stored, String> {
        let len = secret.answer.len();
        if len > MAX_ANSWER_BYTES {
            return Err(format!(
                "an answer of {len} bytes is too large to reveal (a transaction carries at most \
                 {MAX_ANSWER_BYTES})"
            ));
        }
        let answer = to_stored(&secret.answer, |bytes| self.store_bytes(bytes))?;
        Ok(Stored {
            runner: secret.runner,
            salt: secret.salt,
            answer,
        })
    }

    fn store_bytes(&self, bytes: &[u8]) -> Result<Bytes, String> {
        if bytes.len() <= INLINE_ANSWER_BYTES {
            return Ok(Bytes::Hex(hex::encode(bytes)));
        }
        let digest = Hash::digest(bytes);
        let path = self.answer_path(&digest);
        write_atomically(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Bytes::File(digest))
    }

    fn load_bytes(&self, bytes: &Bytes) -> Result<Vec<u8>, String> {
        match bytes {
            Bytes::Hex(text) => {
                hex::decode(text).map_err(|e| format!("{}: an answer: {e}", self.shown()))
            }
            Bytes::File(digest) => self.read_answer(digest),
        }
    }

    /// An answer file, checked against its name: a file the index names but that is missing or
    /// altered is an error, never an answer the node would reveal wrong.
    fn read_answer(&self, digest: &Hash) -> Result<Vec<u8>, String> {
        let path = self.answer_path(digest);
        let shown = path.display();
        let file = std::fs::File::open(&path)
            .map_err(|e| format!("{shown}, named by {}: {e}", self.shown()))?;
        let mut bytes = Vec::new();
        file.take(MAX_ANSWER_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{shown}: {e}"))?;
        if bytes.len() > MAX_ANSWER_BYTES || Hash::digest(&bytes) != *digest {
            return Err(format!(
                "{shown}: its bytes do not match its name (corrupt)"
            ));
        }
        Ok(bytes)
    }

    fn save_index(&self) -> Result<(), String> {
        let index = Index {
            version: VERSION,
            secrets: self.stored.clone(),
        };
        let bytes = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_INDEX_BYTES {
            return Err(format!(
                "{}: {} bytes would exceed {MAX_INDEX_BYTES}: too many open answers",
                self.shown(),
                bytes.len()
            ));
        }
        let path = self.dir.join(FILE);
        write_atomically(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn load(&mut self, index: Index) -> Result<(), String> {
        for (execution, stored) in index.secrets {
            let answer = from_stored(&stored.answer, |b| self.load_bytes(b))?;
            let secret = Secret {
                runner: stored.runner,
                salt: stored.salt,
                answer,
            };
            self.secrets.insert(execution, secret);
            self.stored.insert(execution, stored);
        }
        Ok(())
    }

    /// Rewrites a version 1 file as version 2. Until the new index is renamed over it the old
    /// file is intact, so a crash here only repeats the migration.
    fn migrate(&mut self, legacy: BTreeMap<Hash, Secret>) -> Result<(), String> {
        for (execution, secret) in legacy {
            match self.store(&secret) {
                Ok(stored) => {
                    self.stored.insert(execution, stored);
                    self.secrets.insert(execution, secret);
                }
                // Too large for any transaction: its reveal could never land, keeping it would
                // only make every later start fail.
                Err(e) => tracing::warn!(%execution, "agent: dropping a kept answer: {e}"),
            }
        }
        self.save_index()?;
        tracing::info!(
            count = self.stored.len(),
            "agent: rewrote {} in the compact format",
            self.shown()
        );
        Ok(())
    }

    /// Deletes what a crash may have left: temporary files, and answer files no entry names.
    /// Anything else in the folder is not ours and stays.
    fn sweep(&self) {
        let _ = std::fs::remove_file(temporary(&self.dir.join(FILE)));
        let named: std::collections::BTreeSet<Hash> =
            self.stored.values().filter_map(Stored::file).collect();
        let Ok(entries) = std::fs::read_dir(self.dir.join(ANSWERS)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let ours = match name.strip_suffix(".tmp") {
                Some(digest) => digest.parse::<Hash>().is_ok(),
                None => name.parse::<Hash>().is_ok_and(|d| !named.contains(&d)),
            };
            if ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Deletes an answer file once no entry names it; one that stays is swept on the next start.
    fn delete_unnamed(&self, file: Option<Hash>) {
        let Some(digest) = file else {
            return;
        };
        if !self.stored.values().any(|s| s.file() == Some(digest)) {
            let _ = std::fs::remove_file(self.answer_path(&digest));
        }
    }

    fn answer_path(&self, digest: &Hash) -> PathBuf {
        self.dir.join(ANSWERS).join(digest.to_string())
    }

    fn shown(&self) -> String {
        self.dir.join(FILE).display().to_string()
    }
}

fn to_stored(
    answer: &Answer,
    mut store: impl FnMut(&[u8]) -> Result<Bytes, String>,
) -> Result<StoredAnswer, String> {
    let mut result = |r: &TaskResult| -> Result<StoredResult, String> {
        Ok(match r {
            TaskResult::Output(b) => StoredResult::Output(store(b)?),
            TaskResult::Error(b) => StoredResult::Error(store(b)?),
        })
    };
    Ok(match answer {
        Answer::Result(r) => StoredAnswer::Result(result(r)?),
        Answer::Verdict(Verdict::Rerun(r)) => StoredAnswer::Rerun(result(r)?),
        Answer::Verdict(Verdict::Check { valid }) => StoredAnswer::Check { valid: *valid },
    })
}

fn from_stored(
    stored: &StoredAnswer,
    mut load: impl FnMut(&Bytes) -> Result<Vec<u8>, String>,
) -> Result<Answer, String> {
    let mut result = |r: &StoredResult| -> Result<TaskResult, String> {
        Ok(match r {
            StoredResult::Output(b) => TaskResult::Output(load(b)?),
            StoredResult::Error(b) => TaskResult::Error(load(b)?),
        })
    };
    Ok(match stored {
        StoredAnswer::Result(r) => Answer::Result(result(r)?),
        StoredAnswer::Rerun(r) => Answer::Verdict(Verdict::Rerun(result(r)?)),
        StoredAnswer::Check { valid } => Answer::Verdict(Verdict::Check { valid: *valid }),
    })
}

/// The index's version, `None` when there is no index. Streams the file: a version 1 file may
/// be large.
fn read_version(path: &Path) -> Result<Option<u32>, String> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{shown}: {e}")),
        Ok(meta) => meta,
    };
    if meta.len() > LEGACY_MAX_FILE_BYTES {
        return Err(format!(
            "{shown}: {} bytes, more than {LEGACY_MAX_FILE_BYTES}: not a salts file",
            meta.len()
        ));
    }
    let versioned: Versioned = parse(path, LEGACY_MAX_FILE_BYTES)?;
    Ok(Some(versioned.version))
}

fn read_index(path: &Path) -> Result<Index, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > MAX_INDEX_BYTES {
        return Err(format!(
            "{}: {len} bytes, more than the {MAX_INDEX_BYTES} this node ever writes: not a salts \
             file",
            path.display()
        ));
    }
    let index: Index = parse(path, MAX_INDEX_BYTES)?;
    // Read again since `read_version`: a file swapped in between is not trusted either.
    if index.version != VERSION {
        return Err(format!(
            "{}: unknown version {}",
            path.display(),
            index.version
        ));
    }
    Ok(index)
}

fn read_legacy(path: &Path) -> Result<BTreeMap<Hash, Secret>, String> {
    let file: LegacyFile = parse(path, LEGACY_MAX_FILE_BYTES)?;
    if file.version != 1 {
        return Err(format!(
            "{}: unknown version {}",
            path.display(),
            file.version
        ));
    }
    Ok(file.secrets)
}

/// Parses at most `max_bytes` of `path` as JSON, streamed.
fn parse<T: serde::de::DeserializeOwned>(path: &Path, max_bytes: u64) -> Result<T, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let reader = std::io::BufReader::new(file.take(max_bytes));
    serde_json::from_reader(reader).map_err(|e| {
        format!(
            "{shown}: not a salts file ({e}); it holds the answers this node must still reveal: \
             repair it, or move it (and the answers folder) away to give them up"
        )
    })
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Temporary file, sync, rename, sync the folder: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary(path);
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
            r#"{"version": 3, "secrets": {}}"#,
            r#"{"version": 1}"#,
            r#"{"version": 2}"#,
            r#"{"version": 2, "secrets": {}, "more": 1}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = SaltStore::open(dir.path()).err().unwrap();
            assert!(err.contains("salts.json"), "{bad}: {err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }

    fn output_of(bytes: usize, fill: u8) -> Secret {
        Secret {
            runner: Hash([fill; 32]),
            salt: Hash([fill ^ 0xff; 32]),
            answer: Answer::Result(TaskResult::Output(vec![fill; bytes])),
        }
    }

    /// The largest answer a reveal can carry, twice over: what `put` accepted, `open` reads back.
    #[test]
    fn the_largest_answers_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        let largest = runnet_types::tx::MAX_TX_BYTES;
        // Three-digit bytes: the widest any encoding of numbers makes them.
        store.put(Hash([1; 32]), output_of(largest, 201)).unwrap();
        store.put(Hash([2; 32]), output_of(largest, 202)).unwrap();
        let again = SaltStore::open(dir.path()).unwrap();
        assert_eq!(again.get(&Hash([1; 32])), Some(&output_of(largest, 201)));
        assert_eq!(again.get(&Hash([2; 32])), Some(&output_of(largest, 202)));
    }

    /// A change rewrites a small index, not every answer the node holds.
    #[test]
    fn the_index_stays_small_whatever_the_answers_weigh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        for n in 0..4u8 {
            store.put(Hash([n; 32]), output_of(64 << 10, n)).unwrap();
        }
        let index_bytes = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(index_bytes < 4 * 1024, "salts.json is {index_bytes} bytes");
    }

    /// An answer no reveal could carry is refused before the commitment, which then never
    /// leaves: better no commitment than one that can never be opened.
    #[test]
    fn an_answer_too_large_to_reveal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        let too_large = output_of(runnet_types::tx::MAX_TX_BYTES + 1, 1);
        let err = store.put(Hash([1; 32]), too_large).unwrap_err();
        assert!(err.contains("too large"), "{err}");
        assert_eq!(store.get(&Hash([1; 32])), None);
        assert_eq!(SaltStore::open(dir.path()).unwrap().executions().count(), 0);
    }

    fn answer_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(ANSWERS))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn every_kind() -> Vec<(Hash, Secret)> {
        let long = vec![7u8; INLINE_ANSWER_BYTES + 1];
        let answers = [
            Answer::Result(TaskResult::Output(vec![1, 2, 3])),
            Answer::Result(TaskResult::Error(long.clone())),
            Answer::Verdict(Verdict::Rerun(TaskResult::Output(long))),
            Answer::Verdict(Verdict::Rerun(TaskResult::Error(Vec::new()))),
            Answer::Verdict(Verdict::Check { valid: false }),
        ];
        answers
            .into_iter()
            .zip(10u8..)
            .map(|(answer, n)| {
                let secret = Secret {
                    runner: Hash([n; 32]),
                    salt: Hash([n + 100; 32]),
                    answer,
                };
                (Hash([n; 32]), secret)
            })
            .collect()
    }

    #[test]
    fn every_kind_of_answer_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        for (id, secret) in every_kind() {
            store.put(id, secret).unwrap();
        }
        let again = SaltStore::open(dir.path()).unwrap();
        for (id, secret) in every_kind() {
            assert_eq!(again.get(&id), Some(&secret));
        }
        // The two long answers are equal bytes: one file serves both.
        assert_eq!(answer_files(dir.path()).len(), 1);
        let index = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(index.contains(r#"{"hex":"010203"}"#), "{index}");
    }

    #[test]
    fn an_answer_file_goes_when_no_entry_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        let [a, b] = [Hash([1; 32]), Hash([2; 32])];
        store.put(a, output_of(1000, 5)).unwrap();
        store.put(b, output_of(1000, 5)).unwrap();
        store.remove(&a).unwrap();
        assert_eq!(answer_files(dir.path()).len(), 1, "b still names it");
        store.remove(&b).unwrap();
        assert!(answer_files(dir.path()).is_empty());
        // Replacing an answer drops the old one's file.
        store.put(a, output_of(1000, 5)).unwrap();
        store.put(a, output_of(1000, 6)).unwrap();
        assert_eq!(
            answer_files(dir.path()),
            vec![Hash::digest(&[6; 1000]).to_string()]
        );
    }

    #[test]
    fn a_missing_or_altered_answer_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        store.put(Hash([1; 32]), output_of(1000, 5)).unwrap();
        let name = answer_files(dir.path()).remove(0);
        let path = dir.path().join(ANSWERS).join(&name);
        std::fs::write(&path, [6; 1000]).unwrap();
        let err = SaltStore::open(dir.path()).err().unwrap();
        assert!(err.contains(&name) && err.contains("corrupt"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = SaltStore::open(dir.path()).err().unwrap();
        assert!(err.contains(&name) && err.contains(FILE), "{err}");
    }

    /// What a crash between an answer file and its index leaves is swept; what is not ours stays.
    #[test]
    fn leftovers_are_swept_and_strangers_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        store.put(Hash([1; 32]), output_of(1000, 5)).unwrap();
        let kept = answer_files(dir.path());
        let answers = dir.path().join(ANSWERS);
        let orphan = Hash::digest(b"orphan").to_string();
        std::fs::write(answers.join(&orphan), b"orphan").unwrap();
        std::fs::write(answers.join(format!("{orphan}.tmp")), b"half").unwrap();
        std::fs::write(answers.join("notes.txt"), b"mine").unwrap();
        std::fs::write(dir.path().join("salts.json.tmp"), b"half").unwrap();
        let again = SaltStore::open(dir.path()).unwrap();
        assert_eq!(again.get(&Hash([1; 32])), Some(&output_of(1000, 5)));
        let mut expected = kept;
        expected.push("notes.txt".into());
        assert_eq!(answer_files(dir.path()), expected);
        assert!(!dir.path().join("salts.json.tmp").exists());
    }

    /// A put whose index cannot be written leaves memory, disk and the answers folder as they
    /// were: the commitment is not sent.
    #[test]
    fn a_failed_put_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SaltStore::open(dir.path()).unwrap();
        // A folder where the index goes: the rename onto it fails.
        std::fs::create_dir(dir.path().join(FILE)).unwrap();
        assert!(store.put(Hash([1; 32]), output_of(1000, 5)).is_err());
        assert_eq!(store.get(&Hash([1; 32])), None);
        assert!(answer_files(dir.path()).is_empty());
    }

    /// A version 1 file, as earlier nodes wrote it, is read and rewritten compact.
    #[test]
    fn a_version_1_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: BTreeMap<Hash, Secret> = every_kind().into_iter().collect();
        let legacy = serde_json::json!({"version": 1, "secrets": secrets});
        let path = dir.path().join(FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&legacy).unwrap()).unwrap();
        for _ in 0..2 {
            let store = SaltStore::open(dir.path()).unwrap();
            for (id, secret) in &secrets {
                assert_eq!(store.get(id), Some(secret));
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with(r#"{"version":2,"#), "{text}");
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
