//! The `runnet` command line: keys, local testnets, the node itself, transactions and queries.
//!
//! Every command takes `--json` and then prints exactly the JSON the API answered (or, for local
//! commands and the economy's transactions, a JSON summary); without it, a short human summary.
//! Errors go to stderr and say what to fix; the exit code is 1 for a refused or failed command
//! (a transaction whose receipt is a failure, an execution that did not complete), 2 for wrong
//! arguments.

mod economy;
mod files;
mod show;

pub use economy::{
    BundleArgs, ExecutionCommand, ProcessCommand, RunnerCommand, ServiceCommand, encode_inputs,
};
pub use files::{load_definition, load_process, parse_id};

use crate::client::{Client, ClientError};
use crate::home::Home;
use crate::init::{InitOptions, binding_signature, testnet_init};
use clap::{Args, Parser, Subcommand};
use runnet_api::TxLookup;
use runnet_api::objects::Outcome;
use runnet_types::keyfile::{self, KeyKind};
use runnet_types::tx::Amount;
use runnet_types::{Address, Hash, Params, Payload, SecretKey, TxBody};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "runnet",
    version,
    about = "runnet: a proof-of-stake market for work"
)]
pub struct Cli {
    /// Print the JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct NodeArg {
    /// The node's API.
    #[arg(
        long = "node",
        env = "RUNNET_NODE",
        default_value = "http://127.0.0.1:26601"
    )]
    pub url: String,
}

#[derive(Args, Clone)]
pub struct KeyArg {
    /// The account key file that signs.
    #[arg(long = "key", env = "RUNNET_KEY")]
    pub file: PathBuf,
}

#[derive(Args, Clone)]
pub struct GasArgs {
    /// Gas limit of the transaction (default: what the chain's gas schedule asks for it, with a
    /// margin, and at least 100,000; only the gas used is paid).
    #[arg(long)]
    pub gas_limit: Option<u64>,
    /// Price per unit of gas (at least the chain's min_gas_price).
    #[arg(long)]
    pub gas_price: Option<u64>,
    /// Wait until the transaction is committed and print its receipt.
    #[arg(long)]
    pub wait: bool,
}

/// What every transaction command takes: who signs, which node, what gas.
#[derive(Args, Clone)]
pub struct TxArgs {
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub node: NodeArg,
    #[command(flatten)]
    pub gas: GasArgs,
}

impl TxArgs {
    /// The signing key, loaded with a clear error, and a client of the node.
    pub fn open(&self) -> Result<(SecretKey, Client), String> {
        Ok((load_account_key(&self.key)?, Client::new(&self.node.url)))
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Key files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Local test networks.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Run a validator (a home with validator.key) or a full node.
    Start {
        #[arg(long)]
        home: PathBuf,
    },
    /// Sign and submit a transaction.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Read from a node.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Measure committed throughput and latency of a local network at rising offered rates.
    Bench(runnet_testnet::BenchArgs),
    /// Run the deterministic consensus simulator over many seeds (flags: see `--help`).
    Simulate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the economic simulation of the market: every strategy's profit per duty and stake
    /// kept, against honest play (flags: see `--help`; docs/economy.md).
    EconSim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new key file; the first line printed is the address.
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// account, node or validator.
        #[arg(long, default_value = "account")]
        kind: String,
    },
    /// Print a key file's address and public key.
    Show { file: PathBuf },
}

#[derive(Subcommand)]
pub enum TestnetCommand {
    /// Write the home folders of a local network and a funded faucet.key.
    Init {
        #[arg(long)]
        validators: usize,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 26600)]
        base_port: u16,
        #[arg(long, default_value_t = 0)]
        full_nodes: usize,
        #[arg(long, default_value = "runnet-local")]
        chain_id: String,
    },
    /// Start a local network with a workload and faults, show it live, summarise it.
    Up(runnet_testnet::UpArgs),
    /// The load generator `up` and `bench` start as separate processes.
    #[command(hide = true)]
    Load(runnet_testnet::LoadArgs),
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Send coins.
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: Amount,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Validator stake.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Services: publish one.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Runners: run a service, or stop.
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// Executions: request one.
    #[command(subcommand)]
    Execution(ExecutionCommand),
    /// Processes: create, fund, close.
    #[command(subcommand)]
    Process(ProcessCommand),
}

#[derive(Subcommand)]
pub enum StakeCommand {
    /// Bond stake with the consensus and VRF keys of a validator home.
    Bond {
        #[arg(long)]
        amount: Amount,
        /// The validator home whose validator.key and node.key to bind.
        #[arg(long)]
        home: PathBuf,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Start unbonding stake.
    Unbond {
        #[arg(long)]
        amount: Amount,
        #[command(flatten)]
        tx: TxArgs,
    },
}

#[derive(Subcommand)]
pub enum QueryCommand {
    Status {
        #[command(flatten)]
        node: NodeArg,
    },
    Account {
        address: String,
        #[command(flatten)]
        node: NodeArg,
    },
    Tx {
        hash: String,
        #[command(flatten)]
        node: NodeArg,
    },
    Block {
        height: u64,
        #[command(flatten)]
        node: NodeArg,
    },
    Validators {
        #[command(flatten)]
        node: NodeArg,
    },
    Service {
        id: String,
        #[command(flatten)]
        node: NodeArg,
    },
    Runner {
        id: String,
        #[command(flatten)]
        node: NodeArg,
    },
    /// An execution, with its inputs and result decoded (the JSON is the node's answer).
    Execution {
        id: String,
        #[command(flatten)]
        node: NodeArg,
    },
    Process {
        id: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// What a command prints: the JSON, and the human summary.
pub struct Output {
    pub json: Value,
    pub text: String,
    /// Printed all the same, but the command failed (exit code 1) for this reason: an execution
    /// followed to an end other than completion.
    pub failure: Option<String>,
}

impl Output {
    pub fn new(json: Value, text: String) -> Output {
        Output {
            json,
            text,
            failure: None,
        }
    }
}

pub fn run(cli: Cli) -> Result<Output, String> {
    match cli.command {
        Command::Keys(k) => keys(k),
        Command::Testnet(TestnetCommand::Init {
            validators,
            dir,
            base_port,
            full_nodes,
            chain_id,
        }) => {
            let mut opts = InitOptions::new(validators, dir);
            opts.base_port = base_port;
            opts.full_nodes = full_nodes;
            opts.chain_id = chain_id;
            let summary = testnet_init(&opts).map_err(|e| e.to_string())?;
            let mut text = format!(
                "chain {} in {}: {} validators, {} full nodes\nfaucet {} ({})\n",
                summary.chain_id,
                summary.dir.display(),
                validators,
                full_nodes,
                summary.faucet,
                summary.faucet_key.display()
            );
            for n in &summary.nodes {
                text.push_str(&format!(
                    "  {}  api {}  p2p {}{}\n",
                    n.home.display(),
                    n.api,
                    n.p2p,
                    if n.validator { "  validator" } else { "" }
                ));
            }
            text.push_str(&format!(
                "start each with: runnet start --home {}/nodeN",
                summary.dir.display()
            ));
            Ok(Output::new(json!(summary), text))
        }
        Command::Start { .. }
        | Command::Testnet(TestnetCommand::Up(_) | TestnetCommand::Load(_))
        | Command::Bench(_) => Err("this command is run by main".into()),
        Command::Simulate { args } => simulate(args),
        Command::EconSim { args } => {
            runnet_econ_sim::run(&args).map(|text| Output::new(json!({ "table": text }), text))
        }
        Command::Tx(tx) => transaction(tx),
        Command::Query(q) => query(q),
    }
}

fn simulate(args: Vec<String>) -> Result<Output, String> {
    let config = runnet_consensus::sim::parse_args(args.into_iter()).map_err(|e| {
        if e.is_empty() {
            runnet_consensus::sim::USAGE.to_string()
        } else {
            format!("{e}\n{}", runnet_consensus::sim::USAGE)
        }
    })?;
    let started = Instant::now();
    let report = runnet_consensus::sim::simulate(&config);
    let seconds = started.elapsed().as_secs_f64();
    let line = format!("wall={seconds:.1}s {}", report.summary_line());
    if report.violations > 0 {
        return Err(format!("safety or liveness violations: {line}"));
    }
    Ok(Output::new(
        json!({
            "seeds": report.seeds,
            "violations": report.violations,
            "wall_s": seconds,
            "summary": report.summary_line(),
        }),
        line,
    ))
}

fn keys(command: KeysCommand) -> Result<Output, String> {
    match command {
        KeysCommand::Generate { out, kind } => {
            if out.exists() {
                return Err(format!(
                    "{} exists: refusing to overwrite a key",
                    out.display()
                ));
            }
            match kind.as_str() {
                "account" | "node" => {
                    let key = SecretKey::generate().map_err(|e| e.to_string())?;
                    let kind = if kind == "account" {
                        KeyKind::Account
                    } else {
                        KeyKind::Node
                    };
                    keyfile::save_key(&out, kind, &key).map_err(|e| e.to_string())?;
                    Ok(describe(&key, &out))
                }
                "validator" => {
                    let keys = keyfile::ValidatorKeys::generate().map_err(|e| e.to_string())?;
                    keyfile::save_validator_keys(&out, &keys).map_err(|e| e.to_string())?;
                    let public = keys.consensus.public();
                    Ok(Output::new(
                        json!({
                            "file": out,
                            "consensus_key": public,
                            "vrf_key": keys.vrf_public(),
                        }),
                        format!(
                            "{}\nconsensus key {public}\nvrf key {}\nsaved to {}",
                            public.address(),
                            keys.vrf_public(),
                            out.display()
                        ),
                    ))
                }
                other => Err(format!(
                    "--kind {other}: expected account, node or validator"
                )),
            }
        }
        KeysCommand::Show { file } => {
            for kind in [KeyKind::Account, KeyKind::Node] {
                if let Ok(key) = keyfile::load_key(&file, kind) {
                    return Ok(describe(&key, &file));
                }
            }
            if let Ok(keys) = keyfile::load_validator_keys(&file) {
                let public = keys.consensus.public();
                return Ok(Output::new(
                    json!({"file": file, "consensus_key": public, "vrf_key": keys.vrf_public()}),
                    format!("consensus key {public}\nvrf key {}", keys.vrf_public()),
                ));
            }
            // Report the account-kind error: it says whether the file is missing or corrupt.
            keyfile::load_key(&file, KeyKind::Account)
                .map(|key| describe(&key, &file))
                .map_err(|e| e.to_string())
        }
    }
}

fn describe(key: &SecretKey, file: &std::path::Path) -> Output {
    let public = key.public();
    let address = public.address();
    Output::new(
        json!({"address": address, "public_key": public, "file": file}),
        format!("{address}\npublic key {public}\nfile {}", file.display()),
    )
}

fn load_account_key(key: &KeyArg) -> Result<SecretKey, String> {
    keyfile::load_key(&key.file, KeyKind::Account)
        .map_err(|e| format!("{e} (the account key that signs: --key FILE or RUNNET_KEY)"))
}

/// A signed transaction the node admitted, and with `--wait` its committed record.
pub struct Sent {
    pub hash: String,
    pub nonce: u64,
    /// The node's answer to `POST /v1/tx`.
    pub answer: runnet_api::TxAdmitted,
    /// `GET /v1/tx/{hash}` once committed with a successful receipt (only with `--wait`), and
    /// the height of the block that carries it.
    pub committed: Option<(TxLookup, u64)>,
}

impl Sent {
    pub fn text(&self) -> String {
        match &self.committed {
            Some((_, height)) => format!("transaction {} committed at height {height}", self.hash),
            None => format!(
                "transaction {} submitted (nonce {}); --wait follows it",
                self.hash, self.nonce
            ),
        }
    }

    pub fn json(&self) -> Value {
        let mut json = json!({"hash": self.hash, "nonce": self.nonce});
        if let Some((record, _)) = &self.committed {
            json["committed"] = json!(record);
        }
        json
    }
}

/// Gas the default schedule asks of `payload` in a transaction of `encoded_len` bytes, with a
/// margin for a chain whose schedule costs more, and at least the 100,000 every small
/// transaction had by default. Only the gas used is paid, so the margin costs nothing.
pub fn default_gas_limit(payload: &Payload, encoded_len: usize) -> u64 {
    gas_limit(&Params::default(), payload, encoded_len)
}

/// [`default_gas_limit`] under the chain's own parameters (`GET /v1/params`).
pub fn gas_limit(params: &Params, payload: &Payload, encoded_len: usize) -> u64 {
    let needed = runnet_state::executor::intrinsic_gas(params, payload, encoded_len);
    u64::try_from(needed.saturating_mul(3) / 2)
        .unwrap_or(u64::MAX)
        .max(100_000)
}

/// Fills in the chain id, nonce, gas limit and gas price, signs, submits, and with `--wait`
/// follows the transaction to its receipt: a receipt other than success is an error.
pub fn send(
    client: &Client,
    key: &SecretKey,
    payload: Payload,
    gas: &GasArgs,
) -> Result<Sent, String> {
    let api = client.typed();
    let failed = |e: runnet_api::client::ClientError| ClientError::from(e).to_string();
    let chain_id = api.status().map_err(failed)?.chain_id;
    let address = key.public().address();
    let account = api.account(&address).map_err(failed)?;
    let nonce = account.next_nonce;
    let mut body = TxBody {
        chain_id,
        sender: key.public(),
        nonce,
        gas_limit: gas.gas_limit.unwrap_or(0),
        gas_price: gas.gas_price.unwrap_or(1),
        payload,
    };
    if gas.gas_limit.is_none() {
        // Fixed-width integers: the limit's value does not change the encoded length.
        let encoded_len = body.clone().sign(key).encode().len();
        // The chain's gas schedule; a node without `GET /v1/params` (an older one): the default.
        body.gas_limit = match api.params() {
            Ok(chain) => gas_limit(&chain.params, &body.payload, encoded_len),
            Err(e) if e.status() == Some(404) => default_gas_limit(&body.payload, encoded_len),
            Err(e) => return Err(failed(e)),
        };
    }
    let needed = u128::from(body.gas_limit) * u128::from(body.gas_price);
    let balance = account.balance;
    if needed > u128::from(balance) {
        return Err(format!(
            "account {address} holds {balance}, less than gas limit x gas price = {needed}: fund it, or lower --gas-limit"
        ));
    }
    let tx = body.sign(key);
    let admitted = api
        .submit_hex(&hex::encode(tx.encode()))
        .map_err(|e| format!("refused: {}", ClientError::from(e)))?;
    let mut sent = Sent {
        hash: admitted.hash.to_string(),
        nonce,
        answer: admitted.clone(),
        committed: None,
    };
    if gas.wait {
        let (record, height, outcome) =
            wait_for_typed(client, &admitted.hash, Duration::from_secs(60))?;
        let hash = &sent.hash;
        match outcome {
            Outcome::Success => {}
            Outcome::Skipped { reason } => {
                return Err(format!(
                    "transaction {hash} was skipped at height {height}: {} (it changed nothing and paid nothing)",
                    json!(reason).as_str().unwrap_or("?")
                ));
            }
            Outcome::Failed { code, detail } => {
                return Err(format!(
                    "transaction {hash} failed at height {height}: {}: {detail} (it paid its gas and changed nothing else)",
                    json!(code).as_str().unwrap_or("?"),
                ));
            }
        }
        sent.committed = Some((record, height));
    }
    Ok(sent)
}

/// [`send`], printing the node's answer (or with `--wait` the committed record).
pub fn submit(
    client: &Client,
    key: &SecretKey,
    payload: Payload,
    gas: &GasArgs,
) -> Result<Output, String> {
    let sent = send(client, key, payload, gas)?;
    let text = match &sent.committed {
        Some((_, height)) => format!("{}\ncommitted at height {height}: success", sent.hash),
        None => format!("{}\nsubmitted (nonce {})", sent.hash, sent.nonce),
    };
    let answer = match &sent.committed {
        Some((record, _)) => json!(record),
        None => json!(sent.answer),
    };
    Ok(Output::new(answer, text))
}

/// Follows a transaction until it is committed: its record (`GET /v1/tx/{hash}`).
pub fn wait_for(client: &Client, hash: &str, limit: Duration) -> Result<Value, String> {
    let hash: Hash = hash
        .parse()
        .map_err(|e| format!("'{hash}' is not a transaction hash: {e}"))?;
    wait_for_typed(client, &hash, limit).map(|(record, _, _)| json!(record))
}

/// Follows a transaction until it is committed: its record (`GET /v1/tx/{hash}`), its height
/// and its receipt's outcome.
fn wait_for_typed(
    client: &Client,
    hash: &Hash,
    limit: Duration,
) -> Result<(TxLookup, u64, Outcome), String> {
    let started = Instant::now();
    loop {
        match client.typed().tx(hash) {
            Ok(Some(lookup)) => {
                if let TxLookup::Committed {
                    height, receipt, ..
                } = &lookup
                {
                    let (height, outcome) = (*height, receipt.outcome.clone());
                    return Ok((lookup, height, outcome));
                }
            }
            // Not pending here yet, or no more: keep asking until the limit.
            Ok(None) => {}
            Err(e) => return Err(ClientError::from(e).to_string()),
        }
        if started.elapsed() > limit {
            return Err(format!(
                "{hash} not committed after {} s (still pending?)",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn parse_address(text: &str) -> Result<Address, String> {
    text.parse::<Address>()
        .map_err(|e| format!("'{text}' is not an address (0x and 40 hex digits): {e}"))
}

fn transaction(command: TxCommand) -> Result<Output, String> {
    match command {
        TxCommand::Transfer { to, amount, tx } => {
            let to = parse_address(&to)?;
            let (key, client) = tx.open()?;
            submit(&client, &key, Payload::Transfer { to, amount }, &tx.gas)
        }
        TxCommand::Stake(StakeCommand::Bond { amount, home, tx }) => {
            let (key, client) = tx.open()?;
            let home = Home::new(home);
            let keys = home
                .load_validator_keys()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "{} has no validator.key: bond needs a validator home",
                        home.dir.display()
                    )
                })?;
            let node_key = home.load_node_key().map_err(|e| e.to_string())?;
            let peer_id = runnet_p2p::peer_id_of(node_key.seed()).map_err(|e| e.to_string())?;
            let genesis = home.load_genesis().map_err(|e| e.to_string())?;
            let binding =
                binding_signature(&genesis.chain_id, &keys, &key.public().address(), &peer_id);
            let payload = Payload::BondValidator {
                consensus_key: keys.consensus.public(),
                vrf_key: keys.vrf_public(),
                peer_id,
                amount,
                binding,
            };
            submit(&client, &key, payload, &tx.gas)
        }
        TxCommand::Service(command) => economy::service(command),
        TxCommand::Runner(command) => economy::runner(command),
        TxCommand::Execution(command) => economy::execution(command),
        TxCommand::Process(command) => economy::process(command),
        TxCommand::Stake(StakeCommand::Unbond { amount, tx }) => {
            let (key, client) = tx.open()?;
            submit(&client, &key, Payload::UnbondValidator { amount }, &tx.gas)
        }
    }
}

fn query(command: QueryCommand) -> Result<Output, String> {
    let object = |kind: &str, id: &str| -> Result<String, String> {
        Ok(format!("/v1/{kind}/{}", parse_id(id, kind)?))
    };
    let (node, path) = match command {
        QueryCommand::Status { node } => (node, "/v1/status".to_string()),
        QueryCommand::Account { address, node } => {
            let address = parse_address(&address)?;
            (node, format!("/v1/account/{address}"))
        }
        QueryCommand::Tx { hash, node } => (node, format!("/v1/tx/{hash}")),
        QueryCommand::Block { height, node } => (node, format!("/v1/block/{height}")),
        QueryCommand::Validators { node } => (node, "/v1/validators".to_string()),
        QueryCommand::Service { id, node } => (node, object("service", &id)?),
        QueryCommand::Runner { id, node } => (node, object("runner", &id)?),
        QueryCommand::Execution { id, node } => (node, object("execution", &id)?),
        QueryCommand::Process { id, node } => (node, object("process", &id)?),
    };
    let client = Client::new(&node.url);
    let value = client.get(&path).map_err(|e| e.to_string())?;
    let pretty = || serde_json::to_string_pretty(&value).unwrap_or_default();
    let text = if path.starts_with("/v1/execution/") {
        match serde_json::from_value::<runnet_api::ExecutionAnswer>(value.clone()) {
            Ok(execution) => {
                show::describe(&execution, show::task_of(&client, &execution).as_ref())
            }
            Err(_) => pretty(),
        }
    } else if path.starts_with("/v1/service/") {
        match serde_json::from_value::<runnet_api::Service>(value.clone()) {
            Ok(service) => show::describe_service(&service),
            Err(_) => pretty(),
        }
    } else {
        pretty()
    };
    Ok(Output::new(value, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        // Clap checks names, groups and defaults only when a command is parsed: check them all.
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "runnet",
            "tx",
            "process",
            "create",
            "--file",
            "p.json",
            "--balance",
            "5",
            "--service",
            "a=0x0101010101010101010101010101010101010101010101010101010101010101",
            "--key",
            "k",
        ]);
        assert!(cli.is_ok());
        for args in [
            // Two bundles, or none.
            &[
                "runnet",
                "tx",
                "service",
                "publish",
                "--definition",
                "d",
                "--wasm",
                "w",
                "--external",
                "e",
                "--key",
                "k",
            ][..],
            &[
                "runnet",
                "tx",
                "service",
                "publish",
                "--definition",
                "d",
                "--key",
                "k",
            ],
            // A fee of 0, and a binding without a name.
            &[
                "runnet",
                "tx",
                "execution",
                "request",
                "--service",
                "s",
                "--task",
                "t",
                "--inputs",
                "{}",
                "--max-fee",
                "0",
                "--key",
                "k",
            ],
            &[
                "runnet",
                "tx",
                "process",
                "create",
                "--file",
                "p",
                "--balance",
                "1",
                "--service",
                "ticker",
                "--key",
                "k",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
