//! Receipts survive SIGKILL: a validator killed at several instants under load, whatever it was
//! doing, restarts with a receipt for every transaction of every block it had executed, and the
//! lookup by hash of an applied transaction answers that occurrence, not a skipped copy.
//!
//! Two validators: the one killed fetches from the other any batch it had only in memory. The
//! load goes to the other one, and three in ten of its transactions to the killed one too, so
//! both batch those and blocks carry copies that execution skips. Between kills the test opens
//! the dead node's database itself: the state's height, the receipts, the recorded root and the
//! indexed height must agree, since they commit in one write.
//!
//! On the code before receipts were committed with the state, with the window between the two
//! writes widened by a 300 ms sleep, the first kill found the state at height 3 and the receipts
//! indexed to height 2.

mod common;

use common::{Net, frames};
use runnet_node::blockstore::{BlockStore, COLUMN_FAMILIES, Occurrence};
use runnet_node::client::Client;
use runnet_node::config::Config;
use runnet_state::store::{RocksStore, Store};
use runnet_state::{Outcome, Receipt};
use runnet_types::{Batch, Hash, Payload, SecretKey, SignedTx, TxBody};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Transfers of the main sender per request of the load.
const CHUNK: u64 = 100;
/// Three transactions in ten of each chunk go to the killed node too, spread through the chunk
/// and through what it is sent: a pushed batch more than half of whose transactions another
/// stored batch holds is refused as junk (it never reaches a block, and costs its author, whom
/// the other validator bans after two), and the spread keeps every batch either node seals
/// from a part of a request under that.
fn copied(position: u64) -> bool {
    matches!(position % 10, 3 | 6 | 9)
}
/// Blocks the killed node keeps behind its tip.
const RETAIN: u64 = 10;
/// The validator killed; the other one stays up.
const KILLED: usize = 0;
const STAYS: usize = 1;

fn transfers(key: &SecretKey, chain_id: &str, nonces: std::ops::Range<u64>) -> Vec<SignedTx> {
    nonces
        .map(|nonce| {
            TxBody {
                chain_id: chain_id.to_string(),
                sender: key.public(),
                nonce,
                gas_limit: 100_000,
                gas_price: 1,
                payload: Payload::Transfer {
                    to: common::random_address(nonce),
                    amount: 1,
                },
            }
            .sign(key)
        })
        .collect()
}

fn next_nonce(client: &Client, key: &SecretKey) -> Option<u64> {
    let address = key.public().address();
    let account = client.get(&format!("/v1/account/{address}")).ok()?;
    account["next_nonce"].as_u64()
}

/// Until `stop`: chunks of transfers from `main_key` to `main`, each from `main`'s next nonce (so
/// a chunk lost in a kill leaves no gap), and to `copy` (which may be down) three in ten of them
/// mixed with transfers of its own sender, `copy_key`. So both validators batch those copies,
/// each in a batch of its own, and a block that names both applies each once and skips the other
/// copy: before the applied one (a nonce gap) or after it (a used nonce).
fn load(
    (main, main_key): (Client, SecretKey),
    (copy, copy_key): (Client, SecretKey),
    chain_id: String,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Some(first) = next_nonce(&main, &main_key) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let txs = transfers(&main_key, &chain_id, first..first + CHUNK);
        // The copy's own sender goes on from what the other node knows of it: what the killed
        // node had not pushed yet is lost with it, and going on from its own count would leave a
        // gap no later transaction fills. (Sent again, the same transactions are refused as
        // known by a node that holds them.)
        let own = next_nonce(&main, &copy_key);
        let copied = own.map(|own| {
            let mut own = transfers(&copy_key, &chain_id, own..own + CHUNK).into_iter();
            (0..CHUNK)
                .map(|position| match copied(position) {
                    true => txs[position as usize].clone(),
                    false => own.next().expect("CHUNK of them"),
                })
                .collect::<Vec<_>>()
        });
        // Both at once, signed beforehand: a node admits no transaction it already holds in a
        // batch, and the first batch is sealed 50 ms after its first transaction.
        std::thread::scope(|s| {
            if let Some(copied) = &copied {
                s.spawn(|| copy.post_bytes("/v1/txs", &frames(copied)));
            }
            let _ = main.post_bytes("/v1/txs", &frames(&txs));
        });
        // A few chunks a second: blocks of hundreds of transactions without starving two
        // debug-build nodes on a small machine.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a check of the database saw.
#[derive(Default)]
struct Checked {
    /// Skipped receipts by reason, for the log.
    reasons: std::collections::BTreeMap<String, usize>,
    executed: u64,
    pruned_below: u64,
    txs: usize,
    skipped: usize,
    /// Skipped copies of a transaction applied elsewhere, the case of the finding.
    skipped_copies: usize,
    /// Skipped copies retained after their applied occurrence was pruned, found by no hash.
    unanswered: usize,
    /// The applied transaction the API is asked about at the end: a recent one with skipped
    /// copies if there is one, else the latest; with its rank.
    applied_with_copies: Option<((bool, u64), Hash)>,
}

/// Checks the stopped node's database: the state's height, the indexed height and the state
/// roots agree; every transaction of every executed block still stored has its receipt at its
/// occurrence; and its hash answers the applied occurrence when one is retained, else the
/// latest skipped one.
fn check_receipts(data: &Path) -> Checked {
    let rocks = RocksStore::open_with_column_families(data, COLUMN_FAMILIES).unwrap();
    let blocks = BlockStore::new(rocks.db().clone()).unwrap();
    let mut seen = Checked {
        // Store versions count committed states: genesis is version 1.
        executed: rocks.version().saturating_sub(1),
        ..Checked::default()
    };
    assert_eq!(
        blocks.indexed_height().unwrap(),
        seen.executed,
        "receipts indexed up to another height than the state's"
    );
    if seen.executed > 0 {
        assert_eq!(
            blocks.state_root_at(seen.executed).unwrap(),
            Some(rocks.root()),
            "the root recorded for the state's height is not the state's"
        );
    }
    assert_eq!(
        blocks
            .receipt_at(Occurrence {
                height: seen.executed + 1,
                index: 0
            })
            .unwrap(),
        None,
        "receipts of a block the state has not executed"
    );
    // Every occurrence of each hash, in chain order, with its receipt.
    let mut occurrences: HashMap<Hash, Vec<(Occurrence, Receipt)>> = HashMap::new();
    seen.pruned_below = blocks.pruned_below().unwrap();
    // Pruning keeps up: at most one step (64 blocks) behind, and here far less.
    assert!(
        seen.executed <= RETAIN || seen.pruned_below + RETAIN + 1 >= seen.executed,
        "pruned below {} at height {}",
        seen.pruned_below,
        seen.executed
    );
    assert_eq!(
        blocks
            .receipt_at(Occurrence {
                height: seen.pruned_below.saturating_sub(1),
                index: 0
            })
            .unwrap(),
        None,
        "a receipt of a pruned block is left"
    );
    for height in seen.pruned_below.max(1)..=seen.executed {
        let stored = blocks.block(height).unwrap();
        let stored = stored.unwrap_or_else(|| panic!("executed block {height} is not stored"));
        let mut index = 0u32;
        for digest in &stored.block.block.batches {
            let bytes = blocks.batch(digest).unwrap();
            let bytes = bytes.unwrap_or_else(|| panic!("executed batch {digest} is not stored"));
            for tx in Batch::decode(&bytes).unwrap().txs {
                let at = Occurrence { height, index };
                let receipt = blocks.receipt_at(at).unwrap();
                let receipt = receipt.unwrap_or_else(|| panic!("no receipt at {at:?}"));
                assert_eq!(receipt.tx, tx.hash(), "the receipt at {at:?}");
                occurrences
                    .entry(tx.hash())
                    .or_default()
                    .push((at, receipt));
                index += 1;
            }
        }
        assert!(
            blocks.state_root_at(height).unwrap().is_some(),
            "executed block {height} has no state root"
        );
    }
    for (hash, found) in &occurrences {
        seen.txs += found.len();
        let applied: Vec<&(Occurrence, Receipt)> = found
            .iter()
            .filter(|(_, r)| !matches!(r.outcome, Outcome::Skipped { .. }))
            .collect();
        assert!(applied.len() <= 1, "{hash} applied twice: {found:?}");
        seen.skipped += found.len() - applied.len();
        for (_, r) in found {
            if let Outcome::Skipped { reason } = r.outcome {
                *seen.reasons.entry(format!("{reason:?}")).or_default() += 1;
            }
        }
        let record = blocks.tx(hash).unwrap();
        let Some(record) = record else {
            // Only a hash whose applied occurrence was pruned may answer nothing: a skipped
            // copy does not take its place.
            assert!(
                applied.is_empty() && found[0].0.height < blocks.pruned_below().unwrap() + RETAIN,
                "{hash} is not found by its hash: {found:?}"
            );
            seen.unanswered += 1;
            continue;
        };
        let answered = Occurrence {
            height: record.height,
            index: record.index,
        };
        let (want, receipt) = match applied.first() {
            Some(applied) => {
                seen.skipped_copies += found.len() - 1;
                // Recent enough to be retained still when the API is asked.
                let recent = applied.0.height + RETAIN / 2 > seen.executed;
                let rank = (found.len() > 1 && recent, applied.0.height);
                if seen.applied_with_copies.is_none_or(|(best, _)| rank > best) {
                    seen.applied_with_copies = Some((rank, *hash));
                }
                *applied
            }
            // Skipped everywhere: the latest occurrence answers.
            None => found.last().unwrap(),
        };
        assert_eq!(
            answered, *want,
            "{hash} answers another occurrence: {found:?}"
        );
        assert_eq!(record.receipt, *receipt, "{hash}");
    }
    seen
}

#[test]
fn receipts_survive_kills_under_load() {
    let mut net = Net::init_with(2, 0, 0, |opts| {
        opts.consensus.empty_block_interval_ms = 100;
    });
    // The killed node prunes as it goes, so kills also land in and around pruning.
    let config_path = net.home(KILLED).join("config.toml");
    let mut config = Config::load(&config_path).unwrap();
    config.storage.retain_blocks = RETAIN;
    std::fs::write(&config_path, config.to_toml()).unwrap();
    net.start_all();
    net.wait("both APIs", Duration::from_secs(30), |n| {
        n.status(KILLED).is_some() && n.status(STAYS).is_some()
    });
    let data = net.home(KILLED).join("data");
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let main = (net.client(STAYS), net.faucet());
        let copy = (net.client(KILLED), net.account_key(KILLED));
        let (chain_id, stop) = (net.chain_id.clone(), stop.clone());
        std::thread::spawn(move || load(main, copy, chain_id, stop))
    };
    let mut last = Checked::default();
    // The most transactions and skipped copies one check saw: pruning drops older ones.
    let (mut most_txs, mut most_copies) = (0, 0);
    // The transaction the API is asked about at the end, from the latest check that found one.
    let mut asked = None;
    // Kill instants after the node answers again, spread over a few blocks.
    for delay_ms in [700u64, 130, 450, 60, 320, 210, 15, 540] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        net.kill(KILLED);
        let now = check_receipts(&data);
        eprintln!(
            "killed at height {}: {} transactions, skipped {:?}",
            now.executed, now.txs, now.reasons
        );
        assert!(now.executed >= last.executed, "executed height went back");
        most_txs = most_txs.max(now.txs);
        most_copies = most_copies.max(now.skipped_copies);
        asked = now.applied_with_copies.or(asked);
        last = now;
        net.start(KILLED);
        net.wait("the API again", Duration::from_secs(30), |n| {
            n.status(KILLED).is_some()
        });
    }
    stop.store(true, Ordering::Relaxed);
    loader.join().unwrap();
    eprintln!(
        "checked {} transactions in {} blocks (pruned below {}): {} skipped, {} of them copies \
         of an applied one, {} whose applied occurrence was pruned",
        last.txs,
        last.executed,
        last.pruned_below,
        last.skipped,
        last.skipped_copies,
        last.unanswered
    );
    assert!(
        most_txs >= CHUNK as usize && most_copies > 0,
        "the load reached too few blocks, or no block skipped a copy: at most {most_txs} \
         transactions and {most_copies} skipped copies in one check"
    );
    // The restarted node's API answers the applied occurrence. (That the chain goes on after
    // kills is tests/storage.rs's; here it would only make the test depend on consensus.)
    let ((_, height), hash) = asked.expect("some transaction was applied");
    match net.client(KILLED).get(&format!("/v1/tx/{hash}")) {
        Ok(answer) => {
            assert_eq!(answer["status"], "committed", "{answer}");
            assert_eq!(answer["height"], height, "{answer}");
            assert_ne!(
                answer["receipt"]["outcome"]["status"], "skipped",
                "{answer}"
            );
        }
        // Unknown only if its block was pruned since the check.
        Err(e) => assert!(
            net.query(KILLED, &format!("/v1/block/{height}")).is_none(),
            "{hash} (block {height}, retained): {e}"
        ),
    }
}
