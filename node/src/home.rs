//! A node's home folder (ARCHITECTURE.md): where each file lives and how it is loaded.
//!
//! ```text
//! config.toml            settings (config.rs)
//! genesis.json           the chain's first state
//! node.key               network identity (libp2p peer id)
//! validator.key          consensus and VRF keys; absent on a full node
//! account.key            the operator's account (owns the stake; signs evidence and runner txs)
//! validator_state.json   safety data, synced before every vote; never inside data/
//! data/                  RocksDB: blocks, batches, transaction index and state; safe to wipe
//! agent/salts.json       answers committed and not yet revealed (agent/salts.rs); never wipe
//! agent/answers/         the longer of those answers, by digest
//! ```
//!
//! Key files are mode 0600; a key file others may read is refused when loaded (keyfile.rs).

use crate::config::{Config, ConfigError};
use runnet_types::keyfile::{self, KeyFileError, KeyKind, ValidatorKeys};
use runnet_types::{Genesis, SecretKey};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Home {
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(
        "{0} is not a node home folder: it has no config.toml (create one with `runnet testnet init`)"
    )]
    NotAHome(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Genesis(#[from] runnet_types::genesis::GenesisError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }
    pub fn node_key_path(&self) -> PathBuf {
        self.dir.join("node.key")
    }
    pub fn validator_key_path(&self) -> PathBuf {
        self.dir.join("validator.key")
    }
    pub fn account_key_path(&self) -> PathBuf {
        self.dir.join("account.key")
    }
    pub fn safety_path(&self) -> PathBuf {
        self.dir.join("validator_state.json")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn load_config(&self) -> Result<Config, HomeError> {
        if !self.config_path().exists() {
            return Err(HomeError::NotAHome(self.dir.display().to_string()));
        }
        Ok(Config::load(&self.config_path())?)
    }

    pub fn load_genesis(&self) -> Result<Genesis, HomeError> {
        Ok(Genesis::load(&self.genesis_path())?)
    }

    pub fn load_node_key(&self) -> Result<SecretKey, HomeError> {
        Ok(keyfile::load_key(&self.node_key_path(), KeyKind::Node)?)
    }

    /// `None` on a full node (no validator.key).
    pub fn load_validator_keys(&self) -> Result<Option<ValidatorKeys>, HomeError> {
        let path = self.validator_key_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(keyfile::load_validator_keys(&path)?))
    }

    /// `None` when the home has no account key.
    pub fn load_account_key(&self) -> Result<Option<SecretKey>, HomeError> {
        let path = self.account_key_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(keyfile::load_key(&path, KeyKind::Account)?))
    }
}
