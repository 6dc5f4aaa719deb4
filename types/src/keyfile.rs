//! Key files: JSON documents holding one kind of secret, so a node home can hold an account key,
//! a validator key (consensus and VRF) and a network key without mixing them up.
//!
//! Loading checks everything a careless copy could break: the file exists, parses, holds the kind
//! asked for, and its public parts match its secrets.

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

fn write_private(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read_document(path: &Path, expected: KeyKind) -> Result<KeyDocument, KeyFileError> {
    let text = match std::fs::read_to_string(path) {
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
