//! Committed blocks, their batches, commit proofs and the transaction index, in column families of
//! the same RocksDB database as the state.
//!
//! The write order makes a kill at any instant harmless: a committed block and the proof that
//! committed it are written before the block is executed, and so are its batches. On restart the
//! node executes again every stored block above the state's height (execution is deterministic),
//! so nothing committed is lost. The transaction index is written just after the state commit; a
//! kill between the two leaves that one block's receipts unindexed (its transactions still show
//! as committed at that height), which docs/operator.md says.

use rocksdb::{DB, WriteBatch};
use runnet_consensus::CommittedTip;
use runnet_state::Receipt;
use runnet_types::Hash;
use runnet_types::consensus::{CommitProof, ProposedBlock};
use runnet_types::encoding;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const COLUMN_FAMILIES: &[&str] = &["blocks", "block_index", "batches", "txs", "meta"];

const TIP_KEY: &[u8] = b"tip";
const INDEXED_KEY: &[u8] = b"indexed_height";
const PRUNED_KEY: &[u8] = b"pruned_below";

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

#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    #[error("block store: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("block store: column family {0} is missing")]
    MissingColumn(&'static str),
    #[error("block store: corrupt {what}: {problem}")]
    Corrupt { what: String, problem: String },
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
    /// Uses `db`, opened with [`COLUMN_FAMILIES`].
    pub fn new(db: Arc<DB>) -> Result<BlockStore, BlockStoreError> {
        for name in COLUMN_FAMILIES {
            if db.cf_handle(name).is_none() {
                return Err(BlockStoreError::MissingColumn(name));
            }
        }
        Ok(BlockStore { db })
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
        let meta_cf = self.cf("meta")?;
        for b in blocks {
            let height = b.block.height();
            batch.put_cf(blocks_cf, height.to_be_bytes(), encoding::encode(b));
            batch.put_cf(index_cf, b.block.hash().as_bytes(), height.to_be_bytes());
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
        let Some(bytes) = self.get("meta", TIP_KEY)? else {
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
        self.get("meta", &epoch_proof_key(epoch))?
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

    /// The receipts and state root of an executed block, and the height indexed so far; one
    /// atomic write.
    pub fn put_receipts(
        &self,
        height: u64,
        state_root: &Hash,
        receipts: &[Receipt],
    ) -> Result<(), BlockStoreError> {
        let mut batch = WriteBatch::default();
        let txs_cf = self.cf("txs")?;
        for (index, receipt) in receipts.iter().enumerate() {
            let record = TxRecord {
                height,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                receipt: receipt.clone(),
            };
            // JSON: receipts use internally tagged enums, which bincode cannot read back.
            let bytes = serde_json::to_vec(&record).map_err(|e| corrupt("receipt", e))?;
            batch.put_cf(txs_cf, receipt.tx.as_bytes(), bytes);
        }
        let meta_cf = self.cf("meta")?;
        batch.put_cf(meta_cf, root_key(height), state_root.as_bytes());
        batch.put_cf(meta_cf, INDEXED_KEY, height.to_be_bytes());
        self.db.write(batch)?;
        Ok(())
    }

    /// The state root after executing block `height`, as this node computed it.
    pub fn state_root_at(&self, height: u64) -> Result<Option<Hash>, BlockStoreError> {
        self.get("meta", &root_key(height))?
            .map(|bytes| {
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map(Hash)
                    .map_err(|_| corrupt("state root", "not 32 bytes"))
            })
            .transpose()
    }

    pub fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, BlockStoreError> {
        self.get("txs", hash.as_bytes())?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(|e| corrupt("tx record", e)))
            .transpose()
    }

    pub fn indexed_height(&self) -> Result<u64, BlockStoreError> {
        self.meta_height(INDEXED_KEY)
    }

    /// Blocks below this height were pruned.
    pub fn pruned_below(&self) -> Result<u64, BlockStoreError> {
        self.meta_height(PRUNED_KEY)
    }

    fn meta_height(&self, key: &[u8]) -> Result<u64, BlockStoreError> {
        match self.get("meta", key)? {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("meta height", "not 8 bytes")),
        }
    }

    /// Deletes blocks below `below` with their batches, index entries and transaction records,
    /// at most `max_blocks` of them per call so a node far behind on pruning catches up in steps.
    pub fn prune(&self, below: u64, max_blocks: u64) -> Result<u64, BlockStoreError> {
        let from = self.pruned_below()?.max(1);
        if below <= from {
            return Ok(0);
        }
        let to = below.min(from.saturating_add(max_blocks));
        let mut batch = WriteBatch::default();
        let (blocks_cf, index_cf, batches_cf, txs_cf) = (
            self.cf("blocks")?,
            self.cf("block_index")?,
            self.cf("batches")?,
            self.cf("txs")?,
        );
        for height in from..to {
            let Some(stored) = self.block(height)? else {
                continue;
            };
            for digest in &stored.block.block.batches {
                if let Some(bytes) = self.batch(digest)?
                    && let Ok(b) = runnet_types::Batch::decode(&bytes)
                {
                    for tx in &b.txs {
                        batch.delete_cf(txs_cf, tx.hash().as_bytes());
                    }
                }
                batch.delete_cf(batches_cf, digest.as_bytes());
            }
            batch.delete_cf(index_cf, stored.block.hash().as_bytes());
            batch.delete_cf(blocks_cf, height.to_be_bytes());
            batch.delete_cf(self.cf("meta")?, root_key(height));
        }
        batch.put_cf(self.cf("meta")?, PRUNED_KEY, to.to_be_bytes());
        self.db.write(batch)?;
        Ok(to - from)
    }
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
    use runnet_state::store::RocksStore;

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
}
