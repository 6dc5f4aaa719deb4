//! A local network as processes: `runnet testnet init`, config rewrites (bootstrap through the
//! relay, raw payloads), the nodes started and watched until they commit.

use crate::api::Api;
use crate::error::{TestnetError, io};
use crate::process::NodeProcess;
use crate::relay::Relay;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One node of `runnet testnet init --json`.
#[derive(Clone, Debug, Deserialize)]
pub struct InitNode {
    pub home: PathBuf,
    pub validator: bool,
    pub peer_id: String,
    pub p2p: String,
    pub api: String,
}

/// What `runnet testnet init --json` prints.
#[derive(Clone, Debug, Deserialize)]
pub struct InitOutput {
    pub chain_id: String,
    pub dir: PathBuf,
    pub faucet: String,
    pub faucet_key: PathBuf,
    pub nodes: Vec<InitNode>,
}

#[derive(Clone, Debug)]
pub struct NetOptions {
    pub validators: usize,
    pub base_port: u16,
    /// Keep homes and logs here; otherwise a temporary folder removed at the end.
    pub keep: Option<PathBuf>,
    /// Route every link through the fault relay.
    pub relay: bool,
    pub allow_raw: bool,
    pub chain_id: String,
    /// Extra `[mempool]` settings written into every config.toml.
    pub mempool: Vec<(String, i64)>,
    /// `params.NAME = VALUE` set in every home's genesis.json before the first start.
    pub genesis_params: Vec<(String, serde_json::Value)>,
    /// Full nodes after the validators (they link to the validators directly, not through the
    /// relay).
    pub full_nodes: usize,
    /// `[byzantine]` modes written into these nodes' config.toml (byzantine.rs).
    pub byzantine: std::collections::BTreeMap<usize, Vec<String>>,
}

/// The TCP port of `/ip4/127.0.0.1/tcp/PORT[/p2p/..]` or `HOST:PORT`.
pub fn port_of(address: &str) -> Option<u16> {
    let mut parts = address.split('/');
    while let Some(part) = parts.next() {
        if part == "tcp" {
            return parts.next()?.parse().ok();
        }
    }
    address.rsplit_once(':')?.1.parse().ok()
}

/// Refuses to start when a port the network needs is taken (another testnet running?).
pub fn check_ports_free(base_port: u16, count: usize) -> Result<(), TestnetError> {
    for i in 0..count {
        let port = u32::from(base_port) + i as u32;
        let port = u16::try_from(port).map_err(|_| {
            TestnetError::Usage(format!(
                "--base-port {base_port}: {count} ports do not fit below 65536"
            ))
        })?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(TestnetError::Usage(format!(
                "port {port} on 127.0.0.1 is in use (another testnet?): choose another --base-port"
            )));
        }
    }
    Ok(())
}

/// Runs `runnet testnet init` and reads its JSON.
pub fn init(
    binary: &Path,
    dir: &Path,
    validators: usize,
    full_nodes: usize,
    base_port: u16,
    chain_id: &str,
) -> Result<InitOutput, TestnetError> {
    let output = Command::new(binary)
        .args(["testnet", "init", "--validators"])
        .arg(validators.to_string())
        .arg("--full-nodes")
        .arg(full_nodes.to_string())
        .arg("--dir")
        .arg(dir)
        .arg("--base-port")
        .arg(base_port.to_string())
        .arg("--chain-id")
        .arg(chain_id)
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot run {}", binary.display())))?;
    if !output.status.success() {
        return Err(TestnetError::Binary(format!(
            "{} testnet init failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).map_err(|e| {
        TestnetError::Binary(format!(
            "testnet init printed no summary I can read ({e}): {text}"
        ))
    })
}

/// Rewrites a node's config.toml: its bootstrap list, raw payloads, mempool settings.
pub fn rewrite_config(
    home: &Path,
    bootstrap: Option<Vec<String>>,
    allow_raw: bool,
    mempool: &[(String, i64)],
) -> Result<(), TestnetError> {
    let path = home.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    let mut config: toml::Table = toml::from_str(&text)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    if let Some(list) = bootstrap {
        let p2p = config
            .entry("p2p")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(p2p) = p2p {
            p2p.insert(
                "bootstrap".into(),
                toml::Value::Array(list.into_iter().map(toml::Value::String).collect()),
            );
        }
    }
    if allow_raw {
        config.insert("allow_raw_payloads".into(), toml::Value::Boolean(true));
    }
    if !mempool.is_empty() {
        let section = config
            .entry("mempool")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            for (key, value) in mempool {
                section.insert(key.clone(), toml::Value::Integer(*value));
            }
        }
    }
    let text = toml::to_string(&config)
        .map_err(|e| TestnetError::Binary(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
}

/// The last lines of a log, to show why a node stopped.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running network; dropping it kills every node.
pub struct Network {
    pub init: InitOutput,
    pub nodes: Vec<NodeProcess>,
    pub apis: Vec<Api>,
    pub relay: Option<Relay>,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Network {
    /// init, rewrite the configs, start the relay and every node.
    pub fn launch(binary: &Path, opts: &NetOptions) -> Result<Network, TestnetError> {
        if opts.validators == 0 {
            return Err(TestnetError::Usage(
                "--validators must be at least 1".into(),
            ));
        }
        check_ports_free(opts.base_port, 2 * (opts.validators + opts.full_nodes))?;
        let (dir, temp) = match &opts.keep {
            Some(dir) => {
                if dir.join("node0").exists() {
                    return Err(TestnetError::Usage(format!(
                        "--keep {}: already holds a network (node0 exists): choose a new folder",
                        dir.display()
                    )));
                }
                std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("runnet-testnet-")
                    .tempdir()
                    .map_err(io("create a temporary folder"))?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let init = init(
            binary,
            &dir,
            opts.validators,
            opts.full_nodes,
            opts.base_port,
            &opts.chain_id,
        )?;
        let validators: Vec<&InitNode> = init.nodes.iter().filter(|n| n.validator).collect();
        let ports: Vec<u16> = validators
            .iter()
            .map(|n| {
                port_of(&n.p2p).ok_or_else(|| {
                    TestnetError::Binary(format!(
                        "testnet init: p2p address '{}' has no port",
                        n.p2p
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let relay = if opts.relay {
            let mut specs = Vec::new();
            for from in 0..ports.len() {
                for (to, port) in ports.iter().enumerate() {
                    if from != to {
                        specs.push((
                            from,
                            to,
                            std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                        ));
                    }
                }
            }
            Some(
                Relay::start(&specs, u64::from(opts.base_port))
                    .map_err(io("start the fault relay"))?,
            )
        } else {
            None
        };
        for (i, node) in init.nodes.iter().enumerate() {
            // A full node keeps the direct links `testnet init` gave it.
            let relay = relay.as_ref().filter(|_| node.validator);
            let bootstrap = relay.map(|relay| {
                validators
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .filter_map(|(j, peer)| {
                        let addr = relay.listen_addr(i, j)?;
                        Some(format!(
                            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
                            addr.port(),
                            peer.peer_id
                        ))
                    })
                    .collect()
            });
            rewrite_config(&node.home, bootstrap, opts.allow_raw, &opts.mempool)?;
            if let Some(modes) = opts.byzantine.get(&i) {
                crate::byzantine::write_config(&node.home, modes)?;
                // A full node has no account: its junk repeats a transaction the faucet pays.
                let account = node.home.join("account.key");
                if !account.exists() {
                    std::fs::copy(&init.faucet_key, &account)
                        .map_err(io(format!("write {}", account.display())))?;
                }
            }
            crate::economy::set_genesis_params(&node.home, &opts.genesis_params)?;
        }
        let apis = init
            .nodes
            .iter()
            .map(|n| Api::new(&n.api, Duration::from_secs(5)))
            .collect();
        let mut network = Network {
            nodes: init
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeProcess::new(i, binary, &n.home))
                .collect(),
            init,
            apis,
            relay,
            dir,
            _temp: temp,
        };
        for node in &mut network.nodes {
            node.start()
                .map_err(io(format!("start node{}", node.index)))?;
        }
        Ok(network)
    }

    /// Waits until every node answers and has committed a block.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), TestnetError> {
        let deadline = Instant::now() + timeout;
        let mut ready = vec![false; self.nodes.len()];
        while ready.iter().any(|r| !r) {
            for (i, node) in self.nodes.iter_mut().enumerate() {
                if node.has_exited() {
                    return Err(TestnetError::Node(format!(
                        "node{i} exited at start; the end of {}:\n{}",
                        node.log_path().display(),
                        log_tail(&node.log_path(), 15)
                    )));
                }
                if let (Some(api), Some(slot)) = (self.apis.get(i), ready.get_mut(i))
                    && !*slot
                {
                    *slot = api.status().is_ok_and(|s| s.committed_height >= 1);
                }
            }
            if Instant::now() > deadline {
                let waiting: Vec<String> = ready
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| !**r)
                    .map(|(i, _)| format!("node{i}"))
                    .collect();
                return Err(TestnetError::Node(format!(
                    "{} did not commit a block within {timeout:?}; see node.log in {}",
                    waiting.join(", "),
                    self.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// SIGTERM every node (SIGKILL after `grace`) and stop the relay.
    pub fn stop(&mut self, grace: Duration) {
        for node in &mut self.nodes {
            node.stop(grace);
        }
        self.relay = None;
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_of_addresses() {
        assert_eq!(port_of("/ip4/127.0.0.1/tcp/26600"), Some(26600));
        assert_eq!(
            port_of("/ip4/127.0.0.1/tcp/26602/p2p/12D3KooW"),
            Some(26602)
        );
        assert_eq!(port_of("127.0.0.1:26601"), Some(26601));
        assert_eq!(port_of("/ip4/127.0.0.1/udp/1"), None);
    }

    #[test]
    fn config_rewrite_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "moniker = \"node0\"\nallow_raw_payloads = false\n[api]\nlisten = \"127.0.0.1:1\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/2\"\nbootstrap = [\"a\"]\n[mempool]\nmax_batch_txs = 4000\nnonce_window = 1000\n",
        )
        .unwrap();
        rewrite_config(
            dir.path(),
            Some(vec!["x".into(), "y".into()]),
            true,
            &[("max_batch_txs".into(), 2000)],
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(t["p2p"]["bootstrap"].as_array().unwrap().len(), 2);
        assert_eq!(t["p2p"]["listen"].as_str(), Some("/ip4/127.0.0.1/tcp/2"));
        assert_eq!(t["allow_raw_payloads"].as_bool(), Some(true));
        assert_eq!(t["mempool"]["max_batch_txs"].as_integer(), Some(2000));
        assert_eq!(t["mempool"]["nonce_window"].as_integer(), Some(1000));
        assert_eq!(t["moniker"].as_str(), Some("node0"));
        // A broken file is an error naming it, not a panic.
        std::fs::write(dir.path().join("config.toml"), "[[[").unwrap();
        let e = rewrite_config(dir.path(), None, false, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.toml"), "{e}");
    }

    #[test]
    fn a_taken_port_is_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = check_ports_free(port, 1).unwrap_err().to_string();
        assert!(
            e.contains(&port.to_string()) && e.contains("--base-port"),
            "{e}"
        );
    }
}
