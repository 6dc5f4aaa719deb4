//! End to end: 4 validator processes and a full node from `runnet testnet init`, transfers
//! through the API, a validator killed with SIGKILL and restarted, a validator whose `data/` is
//! wiped, all ending on the same blocks and state roots.

mod common;

use common::{Net, frames, random_address};
use std::time::Duration;

const ALL: [usize; 5] = [0, 1, 2, 3, 4];

fn min_height(net: &Net, nodes: &[usize]) -> u64 {
    nodes.iter().map(|&i| net.height(i)).min().unwrap_or(0)
}

#[test]
fn four_validators_and_a_full_node_agree_through_kills_and_wipes() {
    let mut net = Net::init(4, 1, 0);
    net.start_all();
    net.wait(
        "every node to commit and execute block 2",
        Duration::from_secs(60),
        |n| min_height(n, &ALL) >= 2,
    );

    // A few hundred transfers: 200 from the faucet in one bulk request to node0, and 25 from
    // each validator's own account through its own node.
    let faucet = net.faucet();
    let txs: Vec<_> = (0..200)
        .map(|n| net.transfer(&faucet, n, random_address(n), 1_000 + n))
        .collect();
    let answer = net.client(0).post_bytes("/v1/txs", &frames(&txs)).unwrap();
    assert_eq!(answer["admitted"], 200, "{answer}");
    let mut hashes: Vec<String> = txs.iter().map(|t| t.hash().to_string()).collect();
    for v in 0..4 {
        let key = net.account_key(v);
        for n in 0..25 {
            let tx = net.transfer(&key, n, random_address(1_000 + n), 7);
            let answer = net
                .client(v)
                .post_json(
                    "/v1/tx",
                    &serde_json::json!({"tx": hex::encode(tx.encode())}),
                )
                .unwrap();
            assert_eq!(answer["hash"], tx.hash().to_string());
            hashes.push(tx.hash().to_string());
        }
    }
    net.wait(
        "all 300 transfers committed, seen from the full node",
        Duration::from_secs(90),
        |n| {
            hashes.iter().all(|h| {
                n.client(4)
                    .get(&format!("/v1/tx/{h}"))
                    .is_ok_and(|v| v["status"] == "committed")
            })
        },
    );
    // Every one succeeded (nonces in order, funds enough).
    let mut bad = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        let v = net.client(2).get(&format!("/v1/tx/{h}")).unwrap();
        if v["receipt"]["outcome"]["status"] != "success" {
            bad.push(format!(
                "#{i} h{} idx{} {}",
                v["height"], v["index"], v["receipt"]["outcome"]
            ));
        }
    }
    if !bad.is_empty() {
        for h in 1..=12 {
            let b = net.client(2).get(&format!("/v1/block/{h}")).unwrap();
            let ids = net.client(2).get(&format!("/v1/block/{h}/ids")).unwrap();
            eprintln!(
                "h{h} round {} proposer {} batches {} txs {}",
                b["block"]["block"]["header"]["round"],
                b["block"]["block"]["header"]["proposer"],
                b["block"]["block"]["batches"],
                ids["txs"].as_array().map(|a| a.len()).unwrap_or(0)
            );
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
    let account = net
        .client(3)
        .get(&format!("/v1/account/{}", random_address(7)))
        .unwrap();
    assert_eq!(account["balance"], 1_007);
    let h = min_height(&net, &ALL);
    net.wait(
        "all nodes to agree on block and root",
        Duration::from_secs(30),
        |n| n.agree_at(&ALL, h),
    );

    // SIGKILL validator 3; the other three keep committing. Then 60 transfers one at a time,
    // so they spread over many blocks whose batches validator 3 will lack.
    net.kill(3);
    let before = min_height(&net, &[0, 1, 2, 4]);
    net.wait(
        "progress without validator 3",
        Duration::from_secs(60),
        |n| min_height(n, &[0, 1, 2, 4]) >= before + 5,
    );
    let more: Vec<_> = (200..260)
        .map(|n| net.transfer(&faucet, n, random_address(n), 5))
        .collect();
    for tx in &more {
        let answer = net
            .client(1)
            .post_bytes("/v1/txs", &frames(std::slice::from_ref(tx)))
            .unwrap();
        assert_eq!(answer["admitted"], 1, "{answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = more.last().unwrap().hash().to_string();
    net.wait(
        "the transfers sent while 3 was down",
        Duration::from_secs(60),
        |n| {
            n.client(0)
                .get(&format!("/v1/tx/{last}"))
                .is_ok_and(|v| v["status"] == "committed")
        },
    );
    let down_until = min_height(&net, &[0, 1, 2, 4]);

    // Restart it: it replays, catches up and agrees.
    net.start(3);
    net.wait(
        "validator 3 to catch up after SIGKILL",
        Duration::from_secs(90),
        |n| {
            let target = n.height(0);
            n.height(3) >= target && n.agree_at(&[0, 3], target)
        },
    );
    // It fetched the missing batches many blocks at a time, not a fetch per block.
    let with_batches = (before + 1..=down_until)
        .filter(|h| {
            net.client(0).get(&format!("/v1/block/{h}")).is_ok_and(|b| {
                b["block"]["block"]["batches"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            })
        })
        .count();
    let fetches = net
        .metric(3, "runnet_execution_fetches_total")
        .unwrap_or(0.0);
    assert!(
        with_batches >= 10 && fetches <= (with_batches / 3) as f64,
        "{fetches} fetches for {with_batches} blocks with batches learnt by sync"
    );

    // Wipe validator 2's data/: it resyncs from peers (its safety data is outside data/) and
    // keeps voting: the network still commits with validator 3 stopped, which needs node 2's vote.
    net.kill(2);
    net.wipe_data(2);
    net.start(2);
    net.wait(
        "validator 2 to resync after its data/ was wiped",
        Duration::from_secs(120),
        |n| {
            let target = n.height(0);
            target > 0 && n.height(2) >= target && n.agree_at(&[0, 2], target)
        },
    );
    net.kill(3);
    let base = min_height(&net, &[0, 1, 2]);
    net.wait(
        "commits with validators 0, 1 and the resynced 2 (quorum needs 2's votes)",
        Duration::from_secs(60),
        |n| min_height(n, &[0, 1, 2]) >= base + 3,
    );
    let h = min_height(&net, &[0, 1, 2, 4]);
    net.wait("final agreement", Duration::from_secs(30), |n| {
        n.agree_at(&[0, 1, 2, 4], h)
    });
}
