//! Key files: JSON documents holding one kind of secret, so a node home can hold an account key,
//! a validator key (consensus and VRF) and a network key without mixing them up.
//!
//! Loading checks everything a careless copy could break: the file exists, parses, holds the kind
//! asked for, its public parts match its secrets, and (on Unix) nobody but its owner may read or
//! write it. A loose mode is refused, as ssh refuses such a private key, rather than warned about:
//! a warning printed at start is easily missed, while the secret is exposed for as long as the
//! file stays so. Writing replaces the file with a new one of mode 0600, whatever was there.

use crate::address::Address;
use crate::bytes::parse_hex_fixed;
use crate::crypto::{PublicKey, SecretKey};
use crate::vrf::{VrfPublicKey, VrfSecretKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// An account: signs transactions.
    Account,
    /// A validator: signs consensus messages and proves the VRF.
    Validator,
    /// A node's network identity (libp2p).
    Node,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::Account => "account",
            KeyKind::Validator => "validator",
            KeyKind::Node => "node",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read or write key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("key file {path} holds a key of kind {found}, not the {expected} key this needs")]
    WrongKind {
        path: PathBuf,
        expected: KeyKind,
        found: KeyKind,
    },
    #[error(
        "key file {path} may be read or written by others (mode {mode:04o}): \
         run `chmod 600 {path}`"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
}

/// The on-disk document. Public parts are stored too, for people reading the file and so a
/// truncated or edited secret is caught on load.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDocument {
    kind: KeyKind,
    secret: String,
    public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vrf_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vrf_public_key: Option<String>,
}

/// A validator's keys: consensus signing and VRF.
#[derive(Clone, Debug)]
pub struct ValidatorKeys {
    pub consensus: SecretKey,
    pub vrf: VrfSecretKey,
    pub vrf_seed: [u8; 32],
}

impl ValidatorKeys {
    pub fn generate() -> Result<ValidatorKeys, KeyFileError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyFileError::Randomness(e.to_string()))?;
        let consensus =
            SecretKey::generate().map_err(|e| KeyFileError::Randomness(e.to_string()))?;
        Ok(ValidatorKeys::from_seeds(consensus.seed(), seed))
    }

    pub fn from_seeds(consensus_seed: [u8; 32], vrf_seed: [u8; 32]) -> ValidatorKeys {
        ValidatorKeys {
            consensus: SecretKey::from_seed(consensus_seed),
            vrf: VrfSecretKey::from_seed(vrf_seed),
            vrf_seed,
        }
    }

    pub fn vrf_public(&self) -> VrfPublicKey {
        self.vrf.public()
    }
}

/// Writes `text` to a new file of mode 0600 and renames it over `path`: the key never sits in a
/// file whose mode an earlier file (or the umask) chose, and a crash leaves the old key or the new
/// one, never a truncated one.
fn write_private(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temporary(path);
    // Left by a crash: its mode is not to be trusted, so it is replaced, not reused.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let written = write_new_private(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    sync_parent(path).map_err(io)
}

fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // The umask may have narrowed the mode above; the file is 0600 exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes the rename itself durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses a key file that anyone but its owner may read or write.
fn check_private(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| KeyFileError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn read_document(path: &Path, expected: KeyKind) -> Result<KeyDocument, KeyFileError> {
    let text = match read_bounded(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyFileError::Missing(path.to_path_buf()));
        }
        Err(source) => {
            return Err(KeyFileError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let document: KeyDocument = serde_json::from_str(&text).map_err(|e| KeyFileError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if document.kind != expected {
        return Err(KeyFileError::WrongKind {
            path: path.to_path_buf(),
            expected,
            found: document.kind,
        });
    }
    Ok(document)
}

/// A key document is a few hundred bytes; more than this is not one (and not read whole).
const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> KeyFileError {
    KeyFileError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn load_ed25519(path: &Path, document: &KeyDocument) -> Result<SecretKey, KeyFileError> {
    let seed = parse_hex_fixed::<32>(&document.secret, "")
        .map_err(|e| corrupt(path, format!("field 'secret': {e}")))?;
    let key = SecretKey::from_seed(seed);
    if key.public().to_string() != document.public_key.to_lowercase() {
        return Err(corrupt(
            path,
            "field 'public_key' does not match the secret",
        ));
    }
    Ok(key)
}

/// Saves an account or node key (both are plain ed25519 keys).
pub fn save_key(path: &Path, kind: KeyKind, key: &SecretKey) -> Result<(), KeyFileError> {
    let document = KeyDocument {
        kind,
        secret: hex::encode(key.seed()),
        public_key: key.public().to_string(),
        address: (kind == KeyKind::Account).then(|| key.public().address()),
        vrf_secret: None,
        vrf_public_key: None,
    };
    write_json(path, &document)
}

/// Loads an account or node key, refusing a file of another kind.
pub fn load_key(path: &Path, kind: KeyKind) -> Result<SecretKey, KeyFileError> {
    let document = read_document(path, kind)?;
    let key = load_ed25519(path, &document)?;
    if let Some(address) = document.address
        && address != key.public().address()
    {
        return Err(corrupt(path, "field 'address' does not match the secret"));
    }
    // Last, so a missing, corrupt or wrong-kind file is reported as such first.
    check_private(path)?;
    Ok(key)
}

pub fn save_validator_keys(path: &Path, keys: &ValidatorKeys) -> Result<(), KeyFileError> {
    let document = KeyDocument {
        kind: KeyKind::Validator,
        secret: hex::encode(keys.consensus.seed()),
        public_key: keys.consensus.public().to_string(),
        address: None,
        vrf_secret: Some(hex::encode(keys.vrf_seed)),
        vrf_public_key: Some(keys.vrf.public().to_string()),
    };
    write_json(path, &document)
}

pub fn load_validator_keys(path: &Path) -> Result<ValidatorKeys, KeyFileError> {
    let document = read_document(path, KeyKind::Validator)?;
    let consensus = load_ed25519(path, &document)?;
    let vrf_secret = document
        .vrf_secret
        .as_deref()
        .ok_or_else(|| corrupt(path, "field 'vrf_secret' is missing"))?;
    let vrf_seed = parse_hex_fixed::<32>(vrf_secret, "")
        .map_err(|e| corrupt(path, format!("field 'vrf_secret': {e}")))?;
    let keys = ValidatorKeys::from_seeds(consensus.seed(), vrf_seed);
    if document.vrf_public_key.as_deref().map(str::to_lowercase)
        != Some(keys.vrf.public().to_string())
    {
        return Err(corrupt(
            path,
            "field 'vrf_public_key' is missing or does not match 'vrf_secret'",
        ));
    }
    check_private(path)?;
    Ok(keys)
}

fn write_json(path: &Path, document: &KeyDocument) -> Result<(), KeyFileError> {
    // Serializing this plain struct to a string cannot fail.
    let text = serde_json::to_string_pretty(document).map_err(|e| corrupt(path, e.to_string()))?;
    write_private(path, &(text + "\n"))
}

/// Public parts of an account key, for `keys show`.
pub fn describe(key: &SecretKey) -> (PublicKey, Address) {
    (key.public(), key.public().address())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_key_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        let key = SecretKey::from_seed([1; 32]);
        save_key(&path, KeyKind::Account, &key).unwrap();
        let back = load_key(&path, KeyKind::Account).unwrap();
        assert_eq!(back.public(), key.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// A key written over a file another tool left group/world readable is private afterwards:
    /// the mode of whatever was there before must not carry over to the secret.
    #[cfg(unix)]
    #[test]
    fn saving_over_a_loose_file_leaves_it_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for save in [
            |p: &Path| save_key(p, KeyKind::Account, &SecretKey::from_seed([1; 32])),
            |p: &Path| save_validator_keys(p, &ValidatorKeys::from_seeds([2; 32], [3; 32])),
        ] {
            std::fs::write(&path, "left by someone else").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            save(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
        }
    }

    /// Every loader refuses a valid key that others may read, and says how to fix it.
    #[cfg(unix)]
    #[test]
    fn a_key_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let account = dir.path().join("a.key");
        let validator = dir.path().join("v.key");
        save_key(&account, KeyKind::Account, &SecretKey::from_seed([1; 32])).unwrap();
        save_validator_keys(&validator, &ValidatorKeys::from_seeds([2; 32], [3; 32])).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            for path in [&account, &validator] {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            let errors = [
                load_key(&account, KeyKind::Account).unwrap_err(),
                load_validator_keys(&validator).unwrap_err(),
            ];
            for err in errors {
                assert!(matches!(err, KeyFileError::Exposed { mode: m, .. } if m == mode));
                assert!(err.to_string().contains("chmod 600"), "{err}");
            }
        }
        std::fs::set_permissions(&account, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            load_key(&account, KeyKind::Account).is_ok(),
            "owner-only is fine"
        );
    }

    #[test]
    fn validator_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.key");
        let keys = ValidatorKeys::from_seeds([2; 32], [3; 32]);
        save_validator_keys(&path, &keys).unwrap();
        let back = load_validator_keys(&path).unwrap();
        assert_eq!(back.consensus.public(), keys.consensus.public());
        assert_eq!(back.vrf.public(), keys.vrf.public());
    }

    #[test]
    fn missing_file_is_named() {
        let err = load_key(Path::new("/nonexistent/k.key"), KeyKind::Account).unwrap_err();
        assert!(matches!(err, KeyFileError::Missing(_)));
        assert!(err.to_string().contains("/nonexistent/k.key"));
    }

    #[test]
    fn corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        for text in [
            "not json",
            "{\"kind\":\"account\"}",
            "{\"kind\":\"account\",\"secret\":\"abcd\",\"public_key\":\"00\"}",
        ] {
            std::fs::write(&path, text).unwrap();
            let err = load_key(&path, KeyKind::Account).unwrap_err();
            assert!(matches!(err, KeyFileError::Corrupt { .. }), "{text}: {err}");
        }
        // A secret edited by one digit no longer matches its public key.
        save_key(&path, KeyKind::Account, &SecretKey::from_seed([1; 32])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("0101", "0102", 1);
        std::fs::write(&path, edited).unwrap();
        let err = load_key(&path, KeyKind::Account).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn wrong_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.key");
        save_validator_keys(&path, &ValidatorKeys::from_seeds([2; 32], [3; 32])).unwrap();
        let err = load_key(&path, KeyKind::Account).unwrap_err();
        assert!(matches!(
            err,
            KeyFileError::WrongKind {
                expected: KeyKind::Account,
                found: KeyKind::Validator,
                ..
            }
        ));
        let account = dir.path().join("a.key");
        save_key(&account, KeyKind::Account, &SecretKey::from_seed([1; 32])).unwrap();
        assert!(matches!(
            load_validator_keys(&account).unwrap_err(),
            KeyFileError::WrongKind { .. }
        ));
    }
}
