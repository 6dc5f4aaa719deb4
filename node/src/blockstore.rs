//! Committed blocks, their batches, commit proofs and the transactions' receipts, in column
//! families of the same RocksDB database as the state.
//!
//! The write order makes a kill at any instant harmless: a committed block and the proof that
//! committed it are written before the block is executed, and so are its batches. On restart the
//! node executes again every stored block above the state's height (execution is deterministic),
//! so nothing committed is lost. A block's receipts, its state root and the indexed height are
//! written in the same atomic write as its state ([`BlockStore::executed_writes`], committed by
//! `Executor::execute_block_with`): a kill keeps both or neither, never a state without its
//! receipts.
//!
//! Receipts are stored by occurrence, `receipts`: (height, index in the block) to the receipt.
//! The same transaction can occur more than once (two validators batch it, a peer re-batches an
//! old one); execution applies it at most once, since applying it moves the sender's nonce, and
//! skips every other copy. `tx_index` maps a hash to the occurrence its lookup answers:
//!
//! - the applied occurrence (success or failure), whenever one is retained: it is written
//!   unconditionally (it is unique) and a skipped copy, earlier or later, never replaces it;
//! - otherwise the latest retained skipped occurrence.
//!
//! Pruning deletes the receipts of the pruned heights, and a hash's index entry only when it
//! points to one of them. Once the applied occurrence is pruned, a later skipped copy no longer
//! answers for the hash (it would tell a wallet its transaction did nothing); a copy executed
//! after that indexes itself, since nothing retained says otherwise. A pruned block's batches go
//! with it unless a retained block names them too (`batch_refs`): a block may name a batch an
//! earlier block committed.
//!
//! Layout 2 (this one) replaced layout 1, whose `txs` column family held one receipt per hash,
//! overwritten by any later copy. A database of layout 1 is refused at start (see
//! [`BlockStore::new`]); it only ever existed on test networks, which resync.

use rocksdb::{DB, Direction, IteratorMode, ReadOptions, WriteBatch};
use runnet_consensus::CommittedTip;
use runnet_state::store::{SideWrite, StoreError};
use runnet_state::{Outcome, Receipt};
use runnet_types::Hash;
use runnet_types::consensus::{CommitProof, ProposedBlock};
use runnet_types::encoding;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub const COLUMN_FAMILIES: &[&str] = &[
    "blocks",
    "block_index",
    "batches",
    BATCH_REFS_CF,
    RECEIPTS_CF,
    TX_INDEX_CF,
    META_CF,
];

/// Batch digest to the height of the last committed block naming it (u64 BE): a block may name
/// a batch an earlier block committed, and pruning deletes a batch only with the last block that
/// names it.
const BATCH_REFS_CF: &str = "batch_refs";

/// (height, index) as [`Occurrence::key`] to the receipt, as JSON.
const RECEIPTS_CF: &str = "receipts";
/// Transaction hash to the occurrence its lookup answers, as [`IndexEntry::encode`].
const TX_INDEX_CF: &str = "tx_index";
const META_CF: &str = "meta";
/// The column family of layout 1: receipts by hash.
const LAYOUT_1_CF: &str = "txs";

const TIP_KEY: &[u8] = b"tip";
const INDEXED_KEY: &[u8] = b"indexed_height";
const PRUNED_KEY: &[u8] = b"pruned_below";
const LAYOUT_KEY: &[u8] = b"layout";
/// The layout this build reads and writes; any other is refused at start.
const LAYOUT: u64 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlock {
    pub block: ProposedBlock,
    pub seed: Hash,
    pub vrf_output: Hash,
}

/// Where a committed transaction landed and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    pub height: u64,
    pub index: u32,
    pub receipt: Receipt,
}

/// One place of a transaction in the chain: a block height and an index in that block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    pub height: u64,
    pub index: u32,
}

impl Occurrence {
    /// Big-endian, so keys sort by height then index and a height range is a key range.
    fn key(self) -> [u8; 12] {
        let mut key = [0; 12];
        key[..8].copy_from_slice(&self.height.to_be_bytes());
        key[8..].copy_from_slice(&self.index.to_be_bytes());
        key
    }

    fn from_key(bytes: &[u8]) -> Result<Occurrence, BlockStoreError> {
        let (height, index) = bytes
            .split_first_chunk::<8>()
            .and_then(|(h, rest)| Some((h, <[u8; 4]>::try_from(rest).ok()?)))
            .ok_or_else(|| corrupt("receipt key", "not 12 bytes"))?;
        Ok(Occurrence {
            height: u64::from_be_bytes(*height),
            index: u32::from_be_bytes(index),
        })
    }
}

/// What `tx_index` holds for a hash: the occurrence answered, and whether it was applied (so a
/// skipped copy can tell whether it may take the entry without reading that receipt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IndexEntry {
    at: Occurrence,
    applied: bool,
}

impl IndexEntry {
    fn encode(self) -> [u8; 13] {
        let mut bytes = [0; 13];
        bytes[..12].copy_from_slice(&self.at.key());
        bytes[12] = u8::from(self.applied);
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<IndexEntry, BlockStoreError> {
        match bytes {
            [at @ .., applied @ (0 | 1)] if at.len() == 12 => Ok(IndexEntry {
                at: Occurrence::from_key(at)?,
                applied: *applied == 1,
            }),
            _ => Err(corrupt(
                "transaction index entry",
                "not 12 bytes and a flag",
            )),
        }
    }
}

fn is_applied(receipt: &Receipt) -> bool {
    !matches!(receipt.outcome, Outcome::Skipped { .. })
}

#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    #[error("block store: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("block store: column family {0} is missing")]
    MissingColumn(&'static str),
    #[error("block store: corrupt {what}: {problem}")]
    Corrupt { what: String, problem: String },
    #[error(
        "block store: data/ has layout {found}{why}, this build reads layout {LAYOUT}: stop the \
         node, delete data/ and start it again, and it syncs the chain from its peers \
         (docs/operator.md, Recovery)"
    )]
    Layout { found: u64, why: &'static str },
}

/// For the side writes of a block's execution, which fail as the state's store does.
impl From<BlockStoreError> for StoreError {
    fn from(e: BlockStoreError) -> StoreError {
        match e {
            BlockStoreError::Db(e) => StoreError::Io(e.to_string()),
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct BlockStore {
    db: Arc<DB>,
}

fn corrupt(what: impl Into<String>, problem: impl ToString) -> BlockStoreError {
    BlockStoreError::Corrupt {
        what: what.into(),
        problem: problem.to_string(),
    }
}

impl BlockStore {
    /// Uses `db`, opened with [`COLUMN_FAMILIES`]. Refuses a database of another layout
    /// (rather than misread it), and marks a new one with this build's.
    pub fn new(db: Arc<DB>) -> Result<BlockStore, BlockStoreError> {
        for name in COLUMN_FAMILIES {
            if db.cf_handle(name).is_none() {
                return Err(BlockStoreError::MissingColumn(name));
            }
        }
        let store = BlockStore { db };
        store.check_layout()?;
        Ok(store)
    }

    fn check_layout(&self) -> Result<(), BlockStoreError> {
        if self.get(META_CF, LAYOUT_KEY)?.is_some() {
            return match self.meta_height(LAYOUT_KEY)? {
                LAYOUT => Ok(()),
                found => Err(BlockStoreError::Layout { found, why: "" }),
            };
        }
        // Layout 1 had no mark, and its build always created `txs`, which this one never opens
        // by name (RocksDB opens every column family a database has).
        if self.db.cf_handle(LAYOUT_1_CF).is_some() {
            return Err(BlockStoreError::Layout {
                found: 1,
                why: " (receipts by transaction hash)",
            });
        }
        self.db
            .put_cf(self.cf(META_CF)?, LAYOUT_KEY, LAYOUT.to_be_bytes())?;
        Ok(())
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, BlockStoreError> {
        self.db
            .cf_handle(name)
            .ok_or(BlockStoreError::MissingColumn(name))
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, BlockStoreError> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// Committed blocks with the proof of the last one; one atomic write.
    pub fn put_committed(
        &self,
        blocks: &[StoredBlock],
        proof: &CommitProof,
        ends_epoch: Option<u64>,
    ) -> Result<(), BlockStoreError> {
        let Some(last) = blocks.last() else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        let blocks_cf = self.cf("blocks")?;
        let index_cf = self.cf("block_index")?;
        let meta_cf = self.cf(META_CF)?;
        let refs_cf = self.cf(BATCH_REFS_CF)?;
        for b in blocks {
            let height = b.block.height();
            batch.put_cf(blocks_cf, height.to_be_bytes(), encoding::encode(b));
            batch.put_cf(index_cf, b.block.hash().as_bytes(), height.to_be_bytes());
            // Blocks commit in height order: the last write is the last block naming it.
            for digest in &b.block.block.batches {
                batch.put_cf(refs_cf, digest.as_bytes(), height.to_be_bytes());
            }
        }
        let tip = Tip {
            block: last.block.clone(),
            seed: last.seed,
            proof: proof.clone(),
        };
        batch.put_cf(meta_cf, TIP_KEY, encoding::encode(&tip));
        if let Some(epoch) = ends_epoch {
            batch.put_cf(meta_cf, epoch_proof_key(epoch), encoding::encode(proof));
        }
        self.db.write(batch)?;
        Ok(())
    }

    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, BlockStoreError> {
        self.get("blocks", &height.to_be_bytes())?
            .map(|bytes| {
                encoding::decode(&bytes).map_err(|e| corrupt(format!("block {height}"), e))
            })
            .transpose()
    }

    pub fn height_of(&self, hash: &Hash) -> Result<Option<u64>, BlockStoreError> {
        self.get("block_index", hash.as_bytes())?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| corrupt("block index", "not 8 bytes"))
            })
            .transpose()
    }

    /// The last committed block and its proof, to restart consensus from.
    pub fn tip(&self) -> Result<Option<CommittedTip>, BlockStoreError> {
        let Some(bytes) = self.get(META_CF, TIP_KEY)? else {
            return Ok(None);
        };
        let tip: Tip = encoding::decode(&bytes).map_err(|e| corrupt("tip", e))?;
        Ok(Some(CommittedTip {
            block: Arc::new(tip.block),
            seed: tip.seed,
            proof: tip.proof,
        }))
    }

    pub fn epoch_end_proof(&self, epoch: u64) -> Result<Option<CommitProof>, BlockStoreError> {
        self.get(META_CF, &epoch_proof_key(epoch))?
            .map(|bytes| encoding::decode(&bytes).map_err(|e| corrupt("epoch proof", e)))
            .transpose()
    }

    pub fn put_batch(&self, digest: &Hash, bytes: &[u8]) -> Result<(), BlockStoreError> {
        self.db
            .put_cf(self.cf("batches")?, digest.as_bytes(), bytes)?;
        Ok(())
    }

    pub fn batch(&self, digest: &Hash) -> Result<Option<Vec<u8>>, BlockStoreError> {
        self.get("batches", digest.as_bytes())
    }

    /// Whether a batch is stored, without copying it out: the bloom filter answers most misses
    /// without a read.
    pub fn has_batch(&self, digest: &Hash) -> Result<bool, BlockStoreError> {
        let cf = self.cf("batches")?;
        if !self.db.key_may_exist_cf(cf, digest.as_bytes()) {
            return Ok(false);
        }
        Ok(self.db.get_pinned_cf(cf, digest.as_bytes())?.is_some())
    }

    /// The writes that record an executed block: its receipts by occurrence, the index entries
    /// of their hashes (by the rule in the module's documentation), its state root and the
    /// height indexed. For `Executor::execute_block_with`, which commits them in the block's own
    /// atomic write; the execution thread is the only writer of receipts, so what this reads
    /// stays true until then.
    pub fn executed_writes(
        &self,
        height: u64,
        receipts: &[Receipt],
    ) -> Result<Vec<SideWrite>, BlockStoreError> {
        let mut writes = Vec::with_capacity(2 * receipts.len() + 2);
        // Index entries this block has written so far; only needed when it skips something.
        let needs_map = receipts.iter().any(|r| !is_applied(r));
        let mut written: HashMap<Hash, IndexEntry> = HashMap::new();
        for (index, receipt) in receipts.iter().enumerate() {
            let index = u32::try_from(index).map_err(|_| corrupt("block", "too many receipts"))?;
            let at = Occurrence { height, index };
            // JSON: receipts use internally tagged enums, which bincode cannot read back.
            let bytes = serde_json::to_vec(receipt).map_err(|e| corrupt("receipt", e))?;
            writes.push(SideWrite::put(RECEIPTS_CF, at.key(), bytes));
            let entry = IndexEntry {
                at,
                applied: is_applied(receipt),
            };
            if entry.applied || self.skipped_may_index(&receipt.tx, &written)? {
                writes.push(SideWrite::put(TX_INDEX_CF, receipt.tx.0, entry.encode()));
                if needs_map {
                    written.insert(receipt.tx, entry);
                }
            }
        }
        writes.push(SideWrite::new_root(META_CF, root_key(height)));
        writes.push(SideWrite::put(META_CF, INDEXED_KEY, height.to_be_bytes()));
        Ok(writes)
    }

    /// Whether a skipped occurrence of `hash` may take its index entry: unless an applied one
    /// holds it, earlier in this block or in a retained block.
    fn skipped_may_index(
        &self,
        hash: &Hash,
        written: &HashMap<Hash, IndexEntry>,
    ) -> Result<bool, BlockStoreError> {
        let current = match written.get(hash) {
            Some(entry) => Some(*entry),
            None => self.index_entry(hash)?,
        };
        Ok(current.is_none_or(|entry| !entry.applied))
    }

    fn index_entry(&self, hash: &Hash) -> Result<Option<IndexEntry>, BlockStoreError> {
        self.get(TX_INDEX_CF, hash.as_bytes())?
            .map(|bytes| IndexEntry::decode(&bytes))
            .transpose()
    }

    /// The receipt of the transaction at `at`, if that block was executed and is retained.
    pub fn receipt_at(&self, at: Occurrence) -> Result<Option<Receipt>, BlockStoreError> {
        self.get(RECEIPTS_CF, &at.key())?
            .map(|bytes| decode_receipt(&bytes))
            .transpose()
    }

    /// The state root after executing block `height`, as this node computed it.
    pub fn state_root_at(&self, height: u64) -> Result<Option<Hash>, BlockStoreError> {
        self.get(META_CF, &root_key(height))?
            .map(|bytes| {
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map(Hash)
                    .map_err(|_| corrupt("state root", "not 32 bytes"))
            })
            .transpose()
    }

    /// The occurrence of a transaction its hash answers (see the module's documentation), with
    /// its receipt.
    pub fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, BlockStoreError> {
        // One snapshot: pruning between the two reads cannot leave the entry without its receipt.
        let snapshot = self.db.snapshot();
        let Some(bytes) = snapshot.get_cf(self.cf(TX_INDEX_CF)?, hash.as_bytes())? else {
            return Ok(None);
        };
        let at = IndexEntry::decode(&bytes)?.at;
        let bytes = snapshot
            .get_cf(self.cf(RECEIPTS_CF)?, at.key())?
            .ok_or_else(|| corrupt("transaction index", format!("{hash}: no receipt at {at:?}")))?;
        Ok(Some(TxRecord {
            height: at.height,
            index: at.index,
            receipt: decode_receipt(&bytes)?,
        }))
    }

    pub fn indexed_height(&self) -> Result<u64, BlockStoreError> {
        self.meta_height(INDEXED_KEY)
    }

    /// Blocks below this height were pruned.
    pub fn pruned_below(&self) -> Result<u64, BlockStoreError> {
        self.meta_height(PRUNED_KEY)
    }

    fn meta_height(&self, key: &[u8]) -> Result<u64, BlockStoreError> {
        match self.get(META_CF, key)? {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("meta height", "not 8 bytes")),
        }
    }

    /// Deletes blocks below `below` with their index entries, state roots and receipts, and their
    /// batches but those a retained block names again, at most `max_blocks` of them per call so a
    /// node far behind on pruning catches up in steps. Only blocks already executed may be pruned.
    pub fn prune(&self, below: u64, max_blocks: u64) -> Result<u64, BlockStoreError> {
        let from = self.pruned_below()?.max(1);
        if below <= from {
            return Ok(0);
        }
        let to = below.min(from.saturating_add(max_blocks));
        let mut batch = WriteBatch::default();
        let (blocks_cf, index_cf, batches_cf, meta_cf, refs_cf) = (
            self.cf("blocks")?,
            self.cf("block_index")?,
            self.cf("batches")?,
            self.cf(META_CF)?,
            self.cf(BATCH_REFS_CF)?,
        );
        for height in from..to {
            let Some(stored) = self.block(height)? else {
                continue;
            };
            for digest in &stored.block.block.batches {
                // Named again by a block that stays: it stays with it.
                if self.last_named(digest)?.is_some_and(|last| last >= to) {
                    continue;
                }
                batch.delete_cf(batches_cf, digest.as_bytes());
                batch.delete_cf(refs_cf, digest.as_bytes());
            }
            batch.delete_cf(index_cf, stored.block.hash().as_bytes());
            batch.delete_cf(blocks_cf, height.to_be_bytes());
            batch.delete_cf(meta_cf, root_key(height));
        }
        self.prune_receipts(&mut batch, from, to)?;
        batch.put_cf(meta_cf, PRUNED_KEY, to.to_be_bytes());
        self.db.write(batch)?;
        Ok(to - from)
    }

    /// The height of the last committed block naming batch `digest`, if one is retained.
    fn last_named(&self, digest: &Hash) -> Result<Option<u64>, BlockStoreError> {
        self.get(BATCH_REFS_CF, digest.as_bytes())?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| corrupt("batch reference", "not 8 bytes"))
            })
            .transpose()
    }

    /// Adds to `batch` the deletion of the receipts of heights `from..to`, and of the index
    /// entries that point to one of them.
    fn prune_receipts(
        &self,
        batch: &mut WriteBatch,
        from: u64,
        to: u64,
    ) -> Result<(), BlockStoreError> {
        let (receipts_cf, tx_index_cf) = (self.cf(RECEIPTS_CF)?, self.cf(TX_INDEX_CF)?);
        let start = Occurrence {
            height: from,
            index: 0,
        }
        .key();
        let end = Occurrence {
            height: to,
            index: 0,
        }
        .key();
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(end);
        let receipts = self.db.iterator_cf_opt(
            receipts_cf,
            options,
            IteratorMode::From(&start, Direction::Forward),
        );
        for entry in receipts {
            let (_, bytes) = entry?;
            let receipt = decode_receipt(&bytes)?;
            // An applied occurrence is the only one of its hash and always holds its entry, so
            // that entry goes without a read; a skipped one's entry may point elsewhere.
            let points_here = is_applied(&receipt)
                || self
                    .index_entry(&receipt.tx)?
                    .is_some_and(|entry| entry.at.height < to);
            if points_here {
                batch.delete_cf(tx_index_cf, receipt.tx.as_bytes());
            }
        }
        batch.delete_range_cf(receipts_cf, start, end);
        Ok(())
    }
}

fn decode_receipt(bytes: &[u8]) -> Result<Receipt, BlockStoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt("receipt", e))
}

fn root_key(height: u64) -> Vec<u8> {
    let mut key = b"root/".to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

fn epoch_proof_key(epoch: u64) -> Vec<u8> {
    let mut key = b"epoch_proof/".to_vec();
    key.extend_from_slice(&epoch.to_be_bytes());
    key
}

#[derive(Serialize, Deserialize)]
struct Tip {
    block: ProposedBlock,
    seed: Hash,
    proof: CommitProof,
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_state::store::{RocksStore, Store};

    #[test]
    fn has_batch_answers_like_batch() {
        let dir = tempfile::tempdir().unwrap();
        let rocks = RocksStore::open_with_column_families(dir.path(), COLUMN_FAMILIES).unwrap();
        let blocks = BlockStore::new(rocks.db().clone()).unwrap();
        // One small and one large enough for a blob file.
        for (i, len) in [(1u8, 10usize), (2, 64 << 10)] {
            let bytes = vec![i; len];
            let digest = Hash::digest(&bytes);
            assert!(!blocks.has_batch(&digest).unwrap());
            blocks.put_batch(&digest, &bytes).unwrap();
            assert!(blocks.has_batch(&digest).unwrap());
            assert_eq!(blocks.batch(&digest).unwrap(), Some(bytes));
        }
        assert!(!blocks.has_batch(&Hash([9; 32])).unwrap());
    }

    fn open() -> (tempfile::TempDir, RocksStore, BlockStore) {
        let dir = tempfile::tempdir().unwrap();
        let rocks = RocksStore::open_with_column_families(dir.path(), COLUMN_FAMILIES).unwrap();
        let blocks = BlockStore::new(rocks.db().clone()).unwrap();
        (dir, rocks, blocks)
    }

    /// Commits block `height` (store version `height`) with its receipts, as execution does.
    fn execute(rocks: &RocksStore, blocks: &BlockStore, height: u64, receipts: &[Receipt]) {
        let writes = blocks.executed_writes(height, receipts).unwrap();
        rocks
            .commit_with(height, &Default::default(), &writes)
            .unwrap();
    }

    fn tx(nonce: u64) -> runnet_types::SignedTx {
        let key = runnet_types::SecretKey::from_seed([7; 32]);
        runnet_types::TxBody {
            chain_id: "test".into(),
            sender: key.public(),
            nonce,
            gas_limit: 100_000,
            gas_price: 1,
            payload: runnet_types::Payload::Transfer {
                to: runnet_types::Address([1; 20]),
                amount: 1,
            },
        }
        .sign(&key)
    }

    fn applied(tx: &runnet_types::SignedTx) -> Receipt {
        Receipt {
            tx: tx.hash(),
            outcome: Outcome::Success,
            gas_used: 10,
            fee: 10,
        }
    }

    fn failed(tx: &runnet_types::SignedTx) -> Receipt {
        Receipt {
            outcome: Outcome::Failed {
                code: runnet_state::ErrorCode::InsufficientBalance,
                detail: "poor".into(),
            },
            ..applied(tx)
        }
    }

    fn skipped(tx: &runnet_types::SignedTx) -> Receipt {
        Receipt {
            tx: tx.hash(),
            outcome: Outcome::Skipped {
                reason: runnet_state::SkipReason::BadNonce,
            },
            gas_used: 0,
            fee: 0,
        }
    }

    /// Where the lookup by hash of `tx` lands, and what it says.
    fn answer(blocks: &BlockStore, tx: &runnet_types::SignedTx) -> Option<(u64, u32, Receipt)> {
        let record = blocks.tx(&tx.hash()).unwrap()?;
        Some((record.height, record.index, record.receipt))
    }

    fn at(height: u64, index: u32) -> Occurrence {
        Occurrence { height, index }
    }

    /// Stores block `height` with one batch of `txs`, as the driver does before execution.
    fn store_block(blocks: &BlockStore, height: u64, txs: &[runnet_types::SignedTx]) {
        let batch = runnet_types::Batch::unsigned(txs.to_vec(), Vec::new());
        blocks.put_batch(&batch.digest(), &batch.encode()).unwrap();
        let header = runnet_types::BlockHeader {
            chain_id: "test".into(),
            height,
            round: height,
            epoch: 0,
            parent: Hash::ZERO,
            justify_signers: Vec::new(),
            failed_leaders: Vec::new(),
            leader_exclusions: Vec::new(),
            proposer: runnet_types::Address([2; 20]),
            batches_root: runnet_types::block::batches_root(&[batch.digest()]),
            executed_height: 0,
            executed_state_root: Hash::ZERO,
            vrf: runnet_types::VrfProof::default(),
            timestamp_ms: 0,
        };
        let block = ProposedBlock {
            block: runnet_types::Block {
                header,
                batches: vec![batch.digest()],
            },
            justify: runnet_types::consensus::QuorumCert::root(0, Hash::ZERO, 0),
            signature: runnet_types::Signature::default(),
        };
        let proof = CommitProof {
            blocks: vec![block.clone()],
            qc: runnet_types::consensus::QuorumCert::root(0, Hash::ZERO, 0),
        };
        let stored = StoredBlock {
            block,
            seed: Hash::ZERO,
            vrf_output: Hash::ZERO,
        };
        blocks.put_committed(&[stored], &proof, None).unwrap();
    }

    #[test]
    fn a_skipped_copy_never_hides_the_applied_one() {
        let (_dir, rocks, blocks) = open();
        let (t, f) = (tx(0), tx(1));
        store_block(&blocks, 1, &[t.clone(), f.clone()]);
        execute(&rocks, &blocks, 1, &[applied(&t), failed(&f)]);
        // Another validator batched the same transactions: block 2 skips them.
        store_block(&blocks, 2, &[f.clone(), t.clone()]);
        execute(&rocks, &blocks, 2, &[skipped(&f), skipped(&t)]);
        assert_eq!(answer(&blocks, &t), Some((1, 0, applied(&t))));
        assert_eq!(answer(&blocks, &f), Some((1, 1, failed(&f))));
        // Each occurrence keeps its own receipt.
        assert_eq!(blocks.receipt_at(at(2, 1)).unwrap(), Some(skipped(&t)));
        assert_eq!(blocks.receipt_at(at(3, 0)).unwrap(), None);
    }

    #[test]
    fn an_applied_copy_takes_the_hash_from_skipped_ones() {
        let (_dir, rocks, blocks) = open();
        let (first, second, never) = (tx(0), tx(1), tx(5));
        // `second` comes before its predecessor in block 1 (skipped, bad nonce), then after it
        // in the same block; `never` is skipped twice.
        execute(
            &rocks,
            &blocks,
            1,
            &[
                skipped(&second),
                skipped(&never),
                applied(&first),
                applied(&second),
            ],
        );
        assert_eq!(answer(&blocks, &second), Some((1, 3, applied(&second))));
        assert_eq!(answer(&blocks, &never), Some((1, 1, skipped(&never))));
        execute(&rocks, &blocks, 2, &[skipped(&never), skipped(&second)]);
        // With no applied occurrence the hash answers the latest skipped one.
        assert_eq!(answer(&blocks, &never), Some((2, 0, skipped(&never))));
        assert_eq!(answer(&blocks, &second), Some((1, 3, applied(&second))));
        execute(&rocks, &blocks, 3, &[skipped(&first), skipped(&first)]);
        assert_eq!(answer(&blocks, &first), Some((1, 2, applied(&first))));
        // A copy skipped behind the applied one in the same block.
        let third = tx(2);
        execute(&rocks, &blocks, 4, &[applied(&third), skipped(&third)]);
        assert_eq!(answer(&blocks, &third), Some((4, 0, applied(&third))));
    }

    #[test]
    fn the_block_is_recorded_with_its_state_in_one_write() {
        let (dir, rocks, blocks) = open();
        let t = tx(0);
        let writes = blocks.executed_writes(1, &[applied(&t)]).unwrap();
        let root = rocks
            .commit_with(1, &[(b"k".to_vec(), Some(b"v".to_vec()))].into(), &writes)
            .unwrap();
        drop((rocks, blocks));
        let rocks = RocksStore::open_with_column_families(dir.path(), COLUMN_FAMILIES).unwrap();
        let blocks = BlockStore::new(rocks.db().clone()).unwrap();
        assert_eq!(blocks.state_root_at(1).unwrap(), Some(root));
        assert_eq!(blocks.indexed_height().unwrap(), rocks.version());
        assert_eq!(answer(&blocks, &t), Some((1, 0, applied(&t))));
    }

    #[test]
    fn pruning_keeps_the_hash_of_a_later_occurrence() {
        let (_dir, rocks, blocks) = open();
        let (early, t) = (tx(0), tx(1));
        // Block 1 skips `t` (its nonce comes after `early`, batched behind it); block 2 applies it.
        store_block(&blocks, 1, std::slice::from_ref(&t));
        execute(&rocks, &blocks, 1, &[skipped(&t)]);
        store_block(&blocks, 2, &[early.clone(), t.clone()]);
        execute(&rocks, &blocks, 2, &[applied(&early), applied(&t)]);
        assert_eq!(blocks.prune(2, 64).unwrap(), 1);
        assert_eq!(answer(&blocks, &t), Some((2, 1, applied(&t))));
        assert_eq!(blocks.receipt_at(at(1, 0)).unwrap(), None);
    }

    #[test]
    fn pruning_removes_the_pruned_occurrences_and_what_points_to_them() {
        let (_dir, rocks, blocks) = open();
        let (t, u, s) = (tx(0), tx(1), tx(7));
        for (height, txs, receipts) in [
            (
                1,
                vec![t.clone(), s.clone()],
                vec![applied(&t), skipped(&s)],
            ),
            (2, vec![u.clone()], vec![applied(&u)]),
            (
                3,
                vec![t.clone(), s.clone()],
                vec![skipped(&t), skipped(&s)],
            ),
        ] {
            store_block(&blocks, height, &txs);
            execute(&rocks, &blocks, height, &receipts);
        }
        assert_eq!(blocks.prune(3, 64).unwrap(), 2);
        for gone in [at(1, 0), at(1, 1), at(2, 0)] {
            assert_eq!(blocks.receipt_at(gone).unwrap(), None, "{gone:?}");
        }
        assert_eq!(blocks.state_root_at(2).unwrap(), None);
        assert!(blocks.block(1).unwrap().is_none());
        assert_eq!(answer(&blocks, &u), None);
        // `t` was applied in a pruned block: its skipped copy in block 3 must not answer for it.
        assert_eq!(answer(&blocks, &t), None);
        assert_eq!(blocks.receipt_at(at(3, 0)).unwrap(), Some(skipped(&t)));
        // `s` was only ever skipped: its latest occurrence is kept and still answers.
        assert_eq!(answer(&blocks, &s), Some((3, 1, skipped(&s))));
        assert!(blocks.block(3).unwrap().is_some());
    }

    #[test]
    fn another_layout_is_refused_not_misread() {
        // A database written by layout 1: a `txs` column family, no layout mark.
        let dir = tempfile::tempdir().unwrap();
        let mut old_families = COLUMN_FAMILIES.to_vec();
        old_families.push("txs");
        let rocks = RocksStore::open_with_column_families(dir.path(), &old_families).unwrap();
        let refused = BlockStore::new(rocks.db().clone())
            .err()
            .unwrap()
            .to_string();
        assert!(
            refused.contains("layout 1") && refused.contains("delete data/"),
            "{refused}"
        );
        drop(rocks);

        // A new database gets this layout's mark, and opens again.
        let (dir, rocks, blocks) = open();
        assert_eq!(blocks.meta_height(LAYOUT_KEY).unwrap(), LAYOUT);
        drop((rocks, blocks));
        let rocks = RocksStore::open_with_column_families(dir.path(), COLUMN_FAMILIES).unwrap();
        let meta = rocks.db().cf_handle(META_CF).unwrap();
        assert!(BlockStore::new(rocks.db().clone()).is_ok());
        // A later layout is refused too.
        rocks
            .db()
            .put_cf(meta, LAYOUT_KEY, 3u64.to_be_bytes())
            .unwrap();
        let refused = BlockStore::new(rocks.db().clone())
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("layout 3"), "{refused}");
    }

    /// A block may name a batch an earlier block already committed (its transactions are then
    /// skipped, but the block carries it): pruning the earlier block must leave the batch to the
    /// later one until that is pruned too.
    #[test]
    fn pruning_keeps_a_batch_a_retained_block_names() {
        let (_dir, rocks, blocks) = open();
        let t = tx(0);
        let digest = runnet_types::Batch::unsigned(vec![t.clone()], Vec::new()).digest();
        store_block(&blocks, 1, std::slice::from_ref(&t));
        execute(&rocks, &blocks, 1, &[applied(&t)]);
        store_block(&blocks, 2, std::slice::from_ref(&t));
        execute(&rocks, &blocks, 2, &[skipped(&t)]);
        assert_eq!(blocks.prune(2, 64).unwrap(), 1);
        assert!(blocks.block(2).unwrap().is_some());
        assert!(
            blocks.has_batch(&digest).unwrap(),
            "the batch of retained block 2 was pruned with block 1"
        );
        assert_eq!(blocks.prune(3, 64).unwrap(), 1);
        assert!(!blocks.has_batch(&digest).unwrap());
    }

    /// Blocks of copies drawn from a few transactions of one sender, executed as the state
    /// would (a copy applies when its nonce is the sender's next, else it is skipped), pruned at
    /// random steps: every lookup answers by the rule, checked against a plain model of it and
    /// against what the rule is for (a retained applied occurrence always answers), and no
    /// retained occurrence loses its receipt nor a pruned one keeps it.
    #[test]
    fn lookups_follow_the_rule_through_copies_and_pruning() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let pool: Vec<runnet_types::SignedTx> = (0..8).map(tx).collect();
        for round in 0..4 {
            let (_dir, rocks, blocks) = open();
            let mut nonce = 0u64;
            // The model: hash to (occurrence, applied), and every receipt written.
            let mut model: HashMap<Hash, (Occurrence, bool)> = HashMap::new();
            let mut written: Vec<(Occurrence, Receipt)> = Vec::new();
            for height in 1..=40u64 {
                let txs: Vec<_> = (0..next(6))
                    .map(|_| pool[next(pool.len() as u64) as usize].clone())
                    .collect();
                store_block(&blocks, height, &txs);
                let mut receipts = Vec::new();
                for (index, t) in txs.iter().enumerate() {
                    let at = Occurrence {
                        height,
                        index: index as u32,
                    };
                    let applies = t.body.nonce == nonce;
                    let receipt = if applies {
                        nonce += 1;
                        applied(t)
                    } else {
                        skipped(t)
                    };
                    match model.get(&t.hash()) {
                        Some((_, true)) if !applies => {}
                        _ => {
                            model.insert(t.hash(), (at, applies));
                        }
                    }
                    written.push((at, receipt.clone()));
                    receipts.push(receipt);
                }
                execute(&rocks, &blocks, height, &receipts);
                if next(3) == 0 {
                    let below = height + 1 - next(height.min(10) + 1);
                    let from = blocks.pruned_below().unwrap().max(1);
                    blocks.prune(below, 1 + next(4)).unwrap();
                    let to = blocks.pruned_below().unwrap().max(from);
                    model.retain(|_, (at, _)| at.height >= to);
                }
                let pruned_below = blocks.pruned_below().unwrap();
                // Every retained block keeps its batch (blocks of the same copies share one).
                for retained in pruned_below.max(1)..=height {
                    let stored = blocks.block(retained).unwrap().expect("retained");
                    for digest in &stored.block.block.batches {
                        assert!(
                            blocks.has_batch(digest).unwrap(),
                            "round {round}, {retained}"
                        );
                    }
                }
                for (at, receipt) in &written {
                    let kept = blocks.receipt_at(*at).unwrap();
                    let want = (at.height >= pruned_below).then(|| receipt.clone());
                    assert_eq!(kept, want, "round {round}, height {height}, {at:?}");
                }
                for t in &pool {
                    let got = answer(&blocks, t).map(|(h, i, _)| at(h, i));
                    let want = model.get(&t.hash()).map(|(at, _)| *at);
                    assert_eq!(
                        got, want,
                        "round {round}, height {height}, nonce {}",
                        t.body.nonce
                    );
                    let retained_applied = written.iter().find(|(at, r)| {
                        r.tx == t.hash() && is_applied(r) && at.height >= pruned_below
                    });
                    if let Some((at, _)) = retained_applied {
                        assert_eq!(got, Some(*at), "round {round}, height {height}");
                    }
                }
            }
            assert!(
                nonce > 3,
                "round {round}: too few transactions applied ({nonce})"
            );
        }
    }
}
