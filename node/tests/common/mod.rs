//! A local network of `runnet` processes for end-to-end tests: init, start, kill, restart, wipe.

#![allow(dead_code)]

use runnet_node::client::Client;
use runnet_node::config::{Config, RunnerConfig};
use runnet_node::init::{InitOptions, InitSummary, testnet_init};
use runnet_types::keyfile::{self, KeyKind};
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Net {
    pub dir: tempfile::TempDir,
    pub summary: InitSummary,
    pub children: Vec<Option<Child>>,
    pub chain_id: String,
}

/// A base port unlikely to collide with another test process on this machine, and below
/// Linux's ephemeral range (32768 and up), where outgoing connections may hold any port.
/// Each network takes at most 10 ports: `salt` (0 or 1) separates two networks of one process.
fn base_port(salt: u16) -> u16 {
    let pid = (std::process::id() % 630) as u16;
    20_000 + pid * 20 + (salt % 2) * 10
}

impl Net {
    pub fn init(validators: usize, full_nodes: usize, salt: u16) -> Net {
        Net::init_with(validators, full_nodes, salt, |_| {})
    }

    pub fn init_with(
        validators: usize,
        full_nodes: usize,
        salt: u16,
        tweak: impl FnOnce(&mut InitOptions),
    ) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = InitOptions::new(validators, dir.path().join("net"));
        opts.full_nodes = full_nodes;
        opts.base_port = base_port(salt);
        // Short empty-block interval so tests see heights move.
        opts.consensus.empty_block_interval_ms = 200;
        tweak(&mut opts);
        let chain_id = opts.chain_id.clone();
        let summary = testnet_init(&opts).unwrap();
        let children = summary.nodes.iter().map(|_| None).collect();
        Net {
            dir,
            summary,
            children,
            chain_id,
        }
    }

    pub fn home(&self, i: usize) -> &Path {
        &self.summary.nodes[i].home
    }

    pub fn start(&mut self, i: usize) {
        let home = self.home(i).to_path_buf();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_runnet"))
            .args(["start", "--home"])
            .arg(&home)
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.children.len() {
            self.start(i);
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn wipe_data(&self, i: usize) {
        let _ = std::fs::remove_dir_all(self.home(i).join("data"));
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.summary.nodes[i].api)
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        self.client(i).get("/v1/status").ok()
    }

    pub fn height(&self, i: usize) -> u64 {
        self.status(i)
            .and_then(|s| s["height"].as_u64())
            .unwrap_or(0)
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.home(i).join("node.log")).unwrap_or_default()
    }

    /// Waits until `check` holds, or fails with every node's log tail.
    pub fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Net) -> bool) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut logs = String::new();
        for i in 0..self.children.len() {
            let log = self.log(i);
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            logs.push_str(&format!(
                "--- node{i} (height {}) ---\n{}\n",
                self.height(i),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        panic!("timed out after {limit:?} waiting for {what}\n{logs}");
    }

    pub fn faucet(&self) -> SecretKey {
        keyfile::load_key(&self.summary.faucet_key, KeyKind::Account).unwrap()
    }

    pub fn account_key(&self, i: usize) -> SecretKey {
        keyfile::load_key(&self.home(i).join("account.key"), KeyKind::Account).unwrap()
    }

    pub fn transfer(&self, key: &SecretKey, nonce: u64, to: Address, amount: u64) -> SignedTx {
        TxBody {
            chain_id: self.chain_id.clone(),
            sender: key.public(),
            nonce,
            gas_limit: 100_000,
            gas_price: 1,
            payload: Payload::Transfer { to, amount },
        }
        .sign(key)
    }

    /// Block hash and state root at `height` on node `i`, once executed there.
    pub fn block_at(&self, i: usize, height: u64) -> Option<(String, String)> {
        let b = self.client(i).get(&format!("/v1/block/{height}")).ok()?;
        let root = b["state_root"].as_str()?.to_string();
        Some((b["hash"].as_str()?.to_string(), root))
    }

    /// Every running node agrees on block hash and state root at `height`.
    pub fn agree_at(&self, nodes: &[usize], height: u64) -> bool {
        let seen: Vec<Option<(String, String)>> =
            nodes.iter().map(|&i| self.block_at(i, height)).collect();
        seen.iter().all(|s| s.is_some()) && seen.windows(2).all(|w| w[0] == w[1])
    }
}

/// Gas limit of the transactions tests build (enough to publish a service at the default
/// schedule).
pub const TEST_GAS_LIMIT: u64 = 10_000_000;

impl Net {
    /// Appends `[[runner]]` sections to node `i`'s config.toml; do it before starting the node.
    pub fn add_runners(&self, i: usize, runners: &[RunnerConfig]) {
        let path = self.home(i).join("config.toml");
        let mut config = Config::load(&path).unwrap();
        config.runners.extend_from_slice(runners);
        std::fs::write(&path, config.to_toml()).unwrap();
    }

    /// Signs each payload from `key` with consecutive nonces from node `i`'s next nonce for it,
    /// submits them in one request, and returns their hashes.
    pub fn submit_all(&self, i: usize, key: &SecretKey, payloads: Vec<Payload>) -> Vec<Hash> {
        let address = key.public().address();
        let account = self
            .client(i)
            .get(&format!("/v1/account/{address}"))
            .unwrap();
        let first = account["next_nonce"].as_u64().unwrap();
        let txs: Vec<SignedTx> = payloads
            .into_iter()
            .enumerate()
            .map(|(n, payload)| {
                TxBody {
                    chain_id: self.chain_id.clone(),
                    sender: key.public(),
                    nonce: first + n as u64,
                    gas_limit: TEST_GAS_LIMIT,
                    gas_price: 1,
                    payload,
                }
                .sign(key)
            })
            .collect();
        let answer = self.client(i).post_bytes("/v1/txs", &frames(&txs)).unwrap();
        assert_eq!(answer["admitted"], txs.len(), "{answer}");
        txs.iter().map(|t| t.hash()).collect()
    }

    pub fn submit(&self, i: usize, key: &SecretKey, payload: Payload) -> Hash {
        self.submit_all(i, key, vec![payload])[0]
    }

    /// Waits until node `i` has executed the transaction, and asserts it succeeded.
    pub fn succeeded(&self, i: usize, hash: &Hash, limit: Duration) -> Value {
        let mut receipt = Value::Null;
        self.wait(&format!("transaction {hash} executed"), limit, |n| match n
            .client(i)
            .get(&format!("/v1/tx/{hash}"))
        {
            Ok(v) if v["status"] == "committed" => {
                receipt = v;
                true
            }
            _ => false,
        });
        assert_eq!(
            receipt["receipt"]["outcome"]["status"], "success",
            "{receipt}"
        );
        receipt
    }

    /// A JSON answer of node `i`'s API, `None` on any error (404 included).
    pub fn query(&self, i: usize, path: &str) -> Option<Value> {
        self.client(i).get(path).ok()
    }

    pub fn balance(&self, i: usize, address: &Address) -> u64 {
        self.query(i, &format!("/v1/account/{address}")).unwrap()["balance"]
            .as_u64()
            .unwrap()
    }

    /// One sample of node `i`'s metrics: `name` (with its labels, if any) to value.
    /// A bare libp2p peer with `node_key`'s identity, linked to node `to` (the tests' stand-in
    /// for a hostile peer: it sends whatever bytes the test gives it).
    pub async fn link_peer(&self, to: usize, node_key: &SecretKey) -> runnet_p2p::Network {
        let peer_addr = format!(
            "{}/p2p/{}",
            self.summary.nodes[to].p2p, self.summary.nodes[to].peer_id
        );
        let keypair = runnet_p2p::keypair_from_seed(node_key.seed()).unwrap();
        let mut config = runnet_p2p::NetworkConfig::new(
            keypair,
            runnet_p2p::parse_address("127.0.0.1:0").unwrap(),
            self.chain_id.clone(),
        );
        config.bootstrap = vec![runnet_p2p::parse_address(&peer_addr).unwrap()];
        let (network, _events) = runnet_p2p::start(config).await.unwrap();
        for _ in 0..100 {
            if !network.connected_peers().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!network.connected_peers().is_empty(), "never linked");
        network
    }

    pub fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let text = self.client(i).get_text("/metrics").ok()?;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

pub fn random_address(seed: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[19] = 0xAA;
    Address(bytes)
}

pub fn frames(txs: &[SignedTx]) -> Vec<u8> {
    let mut body = Vec::new();
    for tx in txs {
        let bytes = tx.encode();
        body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        body.extend_from_slice(&bytes);
    }
    body
}
