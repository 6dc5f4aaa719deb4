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
    /// The agent's own settings (how many tasks run at once).
    #[serde(default)]
    pub agent: AgentSettings,
    /// `[[runner]]` sections: the services this node runs as a runner (docs/runners.md).
    #[serde(default, rename = "runner", skip_serializing_if = "Vec::is_empty")]
    pub runners: Vec<RunnerConfig>,
    /// Test and demo networks only: deliberate attacks this node makes on its own chain
    /// (docs/testnet.md). Written by `runnet testnet up --byzantine`; the node refuses to start
    /// with it unless it carries the acknowledgement and the chain is a testnet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<crate::byzantine::ByzantineConfig>,
}

/// One `[[runner]]` section: a service this node runs, registered on start with the home's
/// `account.key` as the runner's owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// The service id (64 hex digits).
    pub service: String,
    /// Tokens locked when the runner registers (at least the chain's `min_runner_stake`).
    pub stake: u64,
    pub price_per_call: u64,
    #[serde(default)]
    pub price_per_kib: u64,
    /// Most executions assigned to it at once.
    pub max_open: u32,
    /// For a service with an external bundle: the command line of the program that runs its
    /// tasks and reports its events (the line protocol of docs/runners.md). Run as
    /// `sh -c 'exec PROGRAM'` in the home folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// How long one task of the external program may take before it is killed as hung.
    #[serde(default = "default_task_timeout_ms")]
    pub timeout_ms: u64,
    /// `honest`, or a faulty mode for tests and demos.
    #[serde(default)]
    pub mode: RunnerMode,
}

fn default_task_timeout_ms() -> u64 {
    30_000
}

/// How a runner behaves. Everything but `honest` is a deliberate fault, so anyone can watch the
/// chain catch and slash it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerMode {
    #[default]
    Honest,
    /// As the assigned runner, commits and reveals a result that differs from the true one.
    WrongResult,
    /// Takes work and never answers: no result, no verdict (it is slashed at the deadline, and
    /// as an absent verifier).
    Silent,
    /// As a drawn verifier, always says the runner is wrong.
    AlwaysInvalid,
}

impl RunnerMode {
    pub fn name(self) -> &'static str {
        match self {
            RunnerMode::Honest => "honest",
            RunnerMode::WrongResult => "wrong_result",
            RunnerMode::Silent => "silent",
            RunnerMode::AlwaysInvalid => "always_invalid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Tasks (runs and re-runs) executing at once; the rest wait in a queue ordered by deadline.
    pub workers: usize,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings { workers: 2 }
    }
}

impl RunnerConfig {
    /// The service id; [`Config::parse`] has checked it.
    pub fn service_id(&self) -> Result<runnet_types::Hash, String> {
        self.service.parse::<runnet_types::Hash>()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `HOST:PORT` of the HTTP API.
    pub listen: String,
    /// Connections served at once (each carries one request at a time). At the limit the node
    /// accepts no more until one closes; new ones wait in the operating system's queue. Each
    /// takes a file descriptor: keep it well under `ulimit -n`.
    #[serde(default = "default_api_max_connections")]
    pub max_connections: usize,
    /// How long a client has to send a request's headers, and how long an idle kept-alive
    /// connection stays open: a client that trickles its headers is cut off after this.
    #[serde(default = "default_api_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long one request may take from its headers to the answer, reading its body included
    /// (the largest, a 64 MiB `POST /v1/txs`, needs about 20 Mbit/s at the default): a client
    /// that trickles its body gets 408 and the connection is closed.
    #[serde(default = "default_api_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

impl ApiConfig {
    /// `listen`, with every limit at its default.
    pub fn new(listen: impl Into<String>) -> ApiConfig {
        ApiConfig {
            listen: listen.into(),
            max_connections: default_api_max_connections(),
            header_timeout_ms: default_api_header_timeout_ms(),
            request_timeout_ms: default_api_request_timeout_ms(),
        }
    }
}

/// A quarter of the usual 1024 descriptors; RocksDB and the peers need the rest.
fn default_api_max_connections() -> usize {
    256
}

/// Longer than the 15 s a ureq client (the CLI's, the load generator's) keeps an idle connection
/// for reuse, so the node does not close one under a request being sent on it.
fn default_api_header_timeout_ms() -> u64 {
    20_000
}

fn default_api_request_timeout_ms() -> u64 {
    30_000
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

/// More task threads than this only contend for the same cores.
pub const MAX_AGENT_WORKERS: usize = 64;
/// More connections than this would need more file descriptors than a process usually gets.
pub const MAX_API_CONNECTIONS: usize = 65_536;

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
        self.validate_api(file)?;
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
        if self.agent.workers == 0 || self.agent.workers > MAX_AGENT_WORKERS {
            return Err(field(
                "agent.workers",
                format!("must be 1 to {MAX_AGENT_WORKERS}"),
            ));
        }
        self.validate_runners(file)
    }

    fn validate_api(&self, file: &str) -> Result<(), ConfigError> {
        let a = &self.api;
        for (name, value) in [
            ("api.max_connections", a.max_connections as u64),
            ("api.header_timeout_ms", a.header_timeout_ms),
            ("api.request_timeout_ms", a.request_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Field {
                    file: file.to_string(),
                    field: name.to_string(),
                    problem: "must be greater than 0 (there is no unlimited)".into(),
                });
            }
        }
        // A semaphore holds at most this many permits.
        if a.max_connections > MAX_API_CONNECTIONS {
            return Err(ConfigError::Field {
                file: file.to_string(),
                field: "api.max_connections".into(),
                problem: format!("must be at most {MAX_API_CONNECTIONS}"),
            });
        }
        Ok(())
    }

    fn validate_runners(&self, file: &str) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeMap::new();
        for (i, runner) in self.runners.iter().enumerate() {
            let field = |name: &str, problem: String| ConfigError::Field {
                file: file.to_string(),
                field: format!("runner[{i}].{name}"),
                problem,
            };
            let id = runner.service_id().map_err(|e| {
                field(
                    "service",
                    format!("'{}' is not a service id: {e}", runner.service),
                )
            })?;
            if let Some(first) = seen.insert(id, i) {
                return Err(field(
                    "service",
                    format!("runner[{first}] runs this service already (one runner per service)"),
                ));
            }
            if runner.stake == 0 {
                return Err(field("stake", "must be greater than 0".into()));
            }
            if runner.max_open == 0 {
                return Err(field("max_open", "must be greater than 0".into()));
            }
            if runner.timeout_ms == 0 {
                return Err(field("timeout_ms", "must be greater than 0".into()));
            }
            if runner.program.as_ref().is_some_and(|p| p.trim().is_empty()) {
                return Err(field(
                    "program",
                    "is empty: give a command line, or leave it out for a WebAssembly service"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The most bytes one answer to a peer's batch fetch carries (the network's own limit).
    pub fn max_fetch_response_bytes(&self) -> usize {
        runnet_p2p::Limits::default().max_fetch_response_bytes
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
            max_block_items: crate::runtime::MAX_BLOCK_TXS,
            // Two blocks' worth: the proposal a vote waits for, and the one after it.
            max_fetched_overflow_bytes: usize::try_from(genesis.params.max_block_bytes)
                .unwrap_or(usize::MAX)
                .saturating_mul(2),
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

    const SERVICE: &str = "5f2b6a1c3e0d4f8a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";

    #[test]
    fn runner_sections_parse_and_round_trip() {
        let text = format!(
            "{GOOD}[agent]\nworkers = 3\n[[runner]]\nservice = \"{SERVICE}\"\nstake = 100000\nprice_per_call = 10\nmax_open = 4\n\n[[runner]]\nservice = \"{}\"\nstake = 5\nprice_per_call = 0\nprice_per_kib = 2\nmax_open = 1\nprogram = \"./ticker --fast\"\nmode = \"wrong_result\"\n",
            SERVICE.replace('5', "6")
        );
        let config = Config::parse(&text, "config.toml").unwrap();
        assert_eq!(config.agent.workers, 3);
        assert_eq!(config.runners.len(), 2);
        assert_eq!(config.runners[0].mode, RunnerMode::Honest);
        assert_eq!(config.runners[0].timeout_ms, 30_000);
        assert_eq!(config.runners[1].mode, RunnerMode::WrongResult);
        assert_eq!(
            config.runners[1].program.as_deref(),
            Some("./ticker --fast")
        );
        assert_eq!(config.runners[0].service_id().unwrap().to_string(), SERVICE);
        let again = Config::parse(&config.to_toml(), "config.toml").unwrap();
        assert_eq!(again, config);
        // No sections: nothing written, nothing read.
        let plain = Config::parse(GOOD, "config.toml").unwrap();
        assert!(plain.runners.is_empty());
        assert!(!plain.to_toml().contains("runner"));
    }

    #[test]
    fn runner_errors_name_the_file_and_field() {
        let section = |body: &str| format!("{GOOD}[[runner]]\n{body}\n");
        let ok = format!("service = \"{SERVICE}\"\nstake = 1\nprice_per_call = 1\nmax_open = 1");
        let cases = [
            (ok.replace(SERVICE, "abc"), "runner[0].service"),
            (ok.replace("stake = 1", "stake = 0"), "runner[0].stake"),
            (
                ok.replace("max_open = 1", "max_open = 0"),
                "runner[0].max_open",
            ),
            (format!("{ok}\nprogram = \"  \""), "runner[0].program"),
            (format!("{ok}\ntimeout_ms = 0"), "runner[0].timeout_ms"),
            (format!("{ok}\nmode = \"lazy\""), "lazy"),
            (format!("{ok}\nstak = 3"), "stak"),
            (format!("{ok}\n[[runner]]\n{ok}"), "runner[1].service"),
        ];
        for (body, expected) in cases {
            let err = Config::parse(&section(&body), "home/config.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("home/config.toml") && err.contains(expected),
                "{expected}: {err}"
            );
        }
        let err = Config::parse(&format!("{GOOD}[agent]\nworkers = 0\n"), "config.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent.workers"), "{err}");
    }

    #[test]
    fn api_limits_default_parse_and_are_checked() {
        let plain = Config::parse(GOOD, "config.toml").unwrap();
        assert_eq!(plain.api, ApiConfig::new("127.0.0.1:26601"));
        assert_eq!(plain.api.max_connections, 256);
        let set = GOOD.replace(
            "listen = \"127.0.0.1:26601\"",
            "listen = \"127.0.0.1:26601\"\nmax_connections = 8\nheader_timeout_ms = 500\nrequest_timeout_ms = 900",
        );
        let config = Config::parse(&set, "config.toml").unwrap();
        assert_eq!(
            (
                config.api.max_connections,
                config.api.header_timeout_ms,
                config.api.request_timeout_ms
            ),
            (8, 500, 900)
        );
        assert_eq!(
            Config::parse(&config.to_toml(), "config.toml").unwrap(),
            config
        );
        for (setting, field) in [
            ("max_connections = 0", "api.max_connections"),
            ("max_connections = 65537", "api.max_connections"),
            ("header_timeout_ms = 0", "api.header_timeout_ms"),
            ("request_timeout_ms = 0", "api.request_timeout_ms"),
        ] {
            let text = GOOD.replace(
                "listen = \"127.0.0.1:26601\"",
                &format!("listen = \"127.0.0.1:26601\"\n{setting}"),
            );
            let err = Config::parse(&text, "config.toml").unwrap_err().to_string();
            assert!(err.contains(field), "{setting}: {err}");
        }
    }
}
