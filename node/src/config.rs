//! `config.toml`: what an operator may tune, with defaults for everything but the addresses.
//!
//! Unknown fields are refused (a misspelt key silently ignored is a misconfigured validator), and
//! every error names the file and the field.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A name for logs and the status answer.
    #[serde(default)]
    pub moniker: String,
    pub api: ApiConfig,
    pub p2p: P2pConfig,
    #[serde(default)]
    pub mempool: MempoolSettings,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Benchmark testnets only: admit unsigned raw payloads (`runnet bench --payload raw`).
    #[serde(default)]
    pub allow_raw_payloads: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `HOST:PORT` of the HTTP API.
    pub listen: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// `HOST:PORT` or a multiaddr.
    pub listen: String,
    /// Multiaddrs with `/p2p/<peer id>` of peers to dial and redial.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSettings {
    pub max_pending_txs: usize,
    pub max_pending_bytes: usize,
    pub max_batch_txs: usize,
    pub max_batch_bytes: usize,
    pub max_batch_delay_ms: u64,
    pub nonce_window: u64,
}

impl Default for MempoolSettings {
    fn default() -> Self {
        let d = runnet_mempool::MempoolConfig::default();
        MempoolSettings {
            max_pending_txs: d.max_pending_txs,
            max_pending_bytes: d.max_pending_bytes,
            max_batch_txs: d.max_batch_txs,
            max_batch_bytes: d.max_batch_bytes,
            max_batch_delay_ms: d.max_batch_delay_ms,
            nonce_window: d.nonce_window,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Committed blocks (and their batches and transaction index) kept behind the tip; older
    /// ones are deleted so disk stays bounded. Peers that fall further behind than this must
    /// sync from a node that keeps more. 0 keeps everything.
    pub retain_blocks: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            retain_blocks: 100_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `runnet=debug,libp2p=warn`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {problem}")]
    Read { file: String, problem: String },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    #[error("{file}: field '{field}': {problem}")]
    Field {
        file: String,
        field: String,
        problem: String,
    },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            problem: e.to_string(),
        })?;
        Config::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        // toml's message names the key, the line and the column.
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.to_string(),
            problem: e.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let field = |field: &str, problem: String| ConfigError::Field {
            file: file.to_string(),
            field: field.to_string(),
            problem,
        };
        self.api
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| {
                field(
                    "api.listen",
                    format!("'{}' is not HOST:PORT ({e})", self.api.listen),
                )
            })?;
        runnet_p2p::parse_address(&self.p2p.listen)
            .map_err(|e| field("p2p.listen", e.to_string()))?;
        for (i, peer) in self.p2p.bootstrap.iter().enumerate() {
            runnet_p2p::parse_address(peer)
                .map_err(|e| field(&format!("p2p.bootstrap[{i}]"), e.to_string()))?;
        }
        let m = &self.mempool;
        for (name, value) in [
            ("mempool.max_pending_txs", m.max_pending_txs),
            ("mempool.max_pending_bytes", m.max_pending_bytes),
            ("mempool.max_batch_txs", m.max_batch_txs),
            ("mempool.max_batch_bytes", m.max_batch_bytes),
        ] {
            if value == 0 {
                return Err(field(name, "must be greater than 0".into()));
            }
        }
        if m.max_batch_bytes > runnet_types::batch::MAX_BATCH_BYTES {
            return Err(field(
                "mempool.max_batch_bytes",
                format!(
                    "must be at most {} (peers refuse larger batches)",
                    runnet_types::batch::MAX_BATCH_BYTES
                ),
            ));
        }
        if m.max_batch_txs > crate::runtime::MAX_BLOCK_TXS {
            return Err(field(
                "mempool.max_batch_txs",
                format!(
                    "must be at most {} (a block's transaction limit), or the batch is never proposed",
                    crate::runtime::MAX_BLOCK_TXS
                ),
            ));
        }
        if m.nonce_window == 0 {
            return Err(field(
                "mempool.nonce_window",
                "must be greater than 0".into(),
            ));
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The mempool's settings: this file's, plus the chain's own limits from genesis.
    pub fn mempool_config(&self, genesis: &runnet_types::Genesis) -> runnet_mempool::MempoolConfig {
        let m = &self.mempool;
        runnet_mempool::MempoolConfig {
            chain_id: genesis.chain_id.clone(),
            min_gas_price: genesis.params.min_gas_price,
            max_gas_limit: genesis.params.max_block_gas,
            max_pending_txs: m.max_pending_txs,
            max_pending_bytes: m.max_pending_bytes,
            max_batch_txs: m.max_batch_txs,
            max_batch_bytes: m.max_batch_bytes,
            max_batch_delay_ms: m.max_batch_delay_ms,
            nonce_window: m.nonce_window,
            allow_raw: self.allow_raw_payloads,
            ..runnet_mempool::MempoolConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
moniker = "node0"
[api]
listen = "127.0.0.1:26601"
[p2p]
listen = "127.0.0.1:26600"
bootstrap = []
"#;

    #[test]
    fn good_config_round_trips() {
        let config = Config::parse(GOOD, "config.toml").unwrap();
        assert_eq!(config.api.listen, "127.0.0.1:26601");
        assert_eq!(config.storage, StorageConfig::default());
        let again = Config::parse(&config.to_toml(), "config.toml").unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let typo = GOOD.replace("moniker", "monicker");
        let err = Config::parse(&typo, "home/config.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("home/config.toml") && err.contains("monicker"),
            "{err}"
        );

        let bad_port = GOOD.replace("127.0.0.1:26601", "localhost");
        let err = Config::parse(&bad_port, "config.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.listen"), "{err}");

        let bad_peer = GOOD.replace("bootstrap = []", "bootstrap = [\"not an address\"]");
        let err = Config::parse(&bad_peer, "config.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p2p.bootstrap[0]"), "{err}");

        let zero = format!("{GOOD}[mempool]\nmax_batch_txs = 0\n");
        let err = Config::parse(&zero, "config.toml").unwrap_err().to_string();
        assert!(err.contains("mempool.max_batch_txs"), "{err}");

        let wrong_type = GOOD.replace("\"127.0.0.1:26601\"", "26601");
        let err = Config::parse(&wrong_type, "config.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
    }
}
