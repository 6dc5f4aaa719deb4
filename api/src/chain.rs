//! The chain and the node: status, blocks, accounts, validators, parameters.

use crate::objects::{Proved, StoredAccount, Validator, ValidatorSetMember};
use runnet_types::consensus::ProposedBlock;
use runnet_types::genesis::ConsensusParams;
use runnet_types::{Address, Amount, Hash, Params};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /v1/status`: the node's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The chain's id.
    pub chain_id: String,
    /// The node's name (`moniker` in config.toml).
    pub moniker: String,
    /// The last block executed here.
    pub height: u64,
    /// The last block committed (executed or not).
    pub committed_height: u64,
    /// The consensus round.
    pub round: u64,
    /// The current epoch.
    pub epoch: u64,
    /// The hash of the last executed block.
    #[schema(value_type = String)]
    pub block_hash: Hash,
    /// The state root after it.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// Connected peers.
    pub peers: u64,
    /// Whether the node is catching up.
    pub syncing: bool,
    /// The validator's address when the node is one.
    #[schema(value_type = Option<String>)]
    pub validator: Option<Address>,
    /// The node's libp2p peer id.
    pub peer_id: String,
}

/// `GET /v1/block/{height}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockAnswer {
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// The state root after executing it here; `null` until then.
    #[schema(value_type = Option<String>)]
    pub state_root: Option<Hash>,
    /// The beacon's seed it carries.
    #[schema(value_type = String)]
    pub seed: Hash,
    /// Its proposer's VRF output.
    #[schema(value_type = String)]
    pub vrf_output: Hash,
    /// The block as proposed: `block` (header and batch digests), `justify` (the certificate
    /// of its parent) and `signature`.
    #[schema(value_type = Object)]
    pub block: ProposedBlock,
}

/// `GET /v1/block/{height}/ids`: what a block carried, for load generators.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockIds {
    /// The block's height.
    pub height: u64,
    /// Its transactions' hashes, in order.
    #[schema(value_type = Vec<String>)]
    pub txs: Vec<Hash>,
    /// Its raw payloads' ids (their first 32 bytes), in order.
    #[schema(value_type = Vec<String>)]
    pub raw: Vec<Hash>,
}

/// `?proof=true` on the endpoints that can prove what they answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// Add the object's Merkle proof against the state root.
    #[serde(default)]
    pub proof: bool,
}

/// `GET /v1/account/{address}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountAnswer {
    /// The account.
    #[schema(value_type = String)]
    pub address: Address,
    /// Its balance.
    #[schema(value_type = u64)]
    pub balance: Amount,
    /// The nonce its next committed transaction must carry.
    pub nonce: u64,
    /// The nonce after its transactions pending in this node's mempool.
    pub next_nonce: u64,
    /// The height of the state read.
    pub height: u64,
    /// Its validator record (stake, status), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<Validator>,
    /// With `?proof=true`: the stored account's proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<Proved<StoredAccount>>,
}

/// `GET /v1/validators`: the current epoch's set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorsAnswer {
    /// The epoch.
    pub epoch: u64,
    /// The first height this set orders.
    pub start_height: u64,
    /// The sum of the members' stakes, as a decimal string (it may pass 2^64).
    pub total_stake: String,
    /// The members, by stake descending then address ascending.
    pub validators: Vec<ValidatorSetMember>,
}

/// `GET /v1/params`: the rules the chain runs by, from its genesis (the same on every node of
/// the chain; clients should read them rather than assume the defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParamsAnswer {
    /// The chain's id.
    pub chain_id: String,
    /// The hash of the genesis the state was made from.
    #[schema(value_type = String)]
    pub genesis_hash: Hash,
    /// Chain time at genesis, in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// The economy's rules: gas, blocks, epochs, services, runners, executions, processes
    /// (docs/economy.md, "Parameters"; the fields of genesis.json's `params`).
    #[schema(value_type = Object)]
    pub params: Params,
    /// Consensus timing (genesis.json's `consensus`).
    #[schema(value_type = Object)]
    pub consensus: ConsensusParams,
}
