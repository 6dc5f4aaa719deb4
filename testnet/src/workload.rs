//! What the load sends: the mix of transaction kinds, the sender accounts and their funding.
//!
//! Senders are derived from a seed, so the launcher can fund the accounts of a load process it
//! has not started yet, and each is used for one transaction per request at most: a refused
//! transaction is sent again before that sender's next one, so a full mempool never leaves a
//! nonce gap that would strand the rest of the sender's transactions.

use crate::api::{Api, ApiError, frames};
use runnet_types::tx::Amount;
use runnet_types::{Address, Hash, Payload, SecretKey, TxBody};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub const GAS_LIMIT: u64 = 100_000;
pub const GAS_PRICE: u64 = 1;
/// Most nonces one funding round sends before waiting for them to commit (below the
/// mempool's default nonce window of 1,000).
const FUNDING_CHUNK: usize = 500;

/// Shares of each transaction kind, e.g. `transfer=70,execution=20,event=10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    pub transfer: u32,
    pub execution: u32,
    pub event: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            transfer: 100,
            execution: 0,
            event: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Transfer,
    Execution,
    Event,
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(text: &str) -> Result<Mix, String> {
        let mut mix = Mix {
            transfer: 0,
            execution: 0,
            event: 0,
        };
        let mut seen = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: '{part}' is not KIND=SHARE (e.g. transfer=70)"))?;
            let share: u32 = share.trim().parse().map_err(|_| {
                format!("--mix: share of '{name}' is not a whole number: '{share}'")
            })?;
            if share > 1_000_000 {
                return Err(format!("--mix: share of '{name}' is over 1000000"));
            }
            let name = name.trim();
            if seen.contains(&name.to_string()) {
                return Err(format!("--mix: '{name}' is given twice"));
            }
            seen.push(name.to_string());
            match name {
                "transfer" => mix.transfer = share,
                "execution" => mix.execution = share,
                "event" => mix.event = share,
                other => {
                    return Err(format!(
                        "--mix: unknown kind '{other}' (transfer, execution, event)"
                    ));
                }
            }
        }
        if mix.total() == 0 {
            return Err("--mix: the shares add up to zero".into());
        }
        Ok(mix)
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "transfer={},execution={},event={}",
            self.transfer, self.execution, self.event
        )
    }
}

impl Mix {
    pub fn total(&self) -> u64 {
        u64::from(self.transfer) + u64::from(self.execution) + u64::from(self.event)
    }

    pub fn needs_service(&self) -> bool {
        self.execution > 0 || self.event > 0
    }

    /// The kinds of `n` transactions in shares as even as possible (smooth weighted
    /// round-robin), so every stretch of the load has the mix, not just the whole.
    pub fn sequence(&self, n: usize) -> Vec<Kind> {
        let weights = [
            (Kind::Transfer, i64::from(self.transfer)),
            (Kind::Execution, i64::from(self.execution)),
            (Kind::Event, i64::from(self.event)),
        ];
        let total: i64 = weights.iter().map(|w| w.1).sum();
        let mut current = [0i64; 3];
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut best = 0;
            for (i, (_, w)) in weights.iter().enumerate() {
                current[i] += w;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            out.push(weights[best].0);
        }
        out
    }
}

/// The service the execution and event kinds use (published, with runners, by the launcher).
#[derive(Clone, Debug, Default)]
pub struct ServiceTarget {
    pub service: Hash,
    pub task: String,
    /// Record bytes of the task's input schema.
    pub inputs: Vec<u8>,
    pub max_fee: Amount,
    pub event: String,
    /// Record bytes of the event's schema.
    pub event_data: Vec<u8>,
}

/// Sender `index` of the accounts derived from `seed`.
pub fn account_key(seed: u64, index: u64) -> SecretKey {
    let mut material = b"runnet-testnet-load".to_vec();
    material.extend_from_slice(&seed.to_le_bytes());
    material.extend_from_slice(&index.to_le_bytes());
    SecretKey::from_seed(Hash::digest(&material).0)
}

/// A signed transaction ready to send: its bytes and its hash.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub id: Hash,
}

pub fn build(
    chain_id: &str,
    key: &SecretKey,
    nonce: u64,
    kind: Kind,
    sink: Address,
    service: Option<&ServiceTarget>,
) -> Result<Prepared, String> {
    let payload = match (kind, service) {
        (Kind::Transfer, _) => Payload::Transfer {
            to: sink,
            amount: 1,
        },
        (Kind::Execution, Some(s)) => Payload::RequestExecution {
            service: s.service,
            task: s.task.clone(),
            inputs: s.inputs.clone(),
            max_fee: s.max_fee,
            runner: None,
        },
        (Kind::Event, Some(s)) => Payload::EmitEvent {
            service: s.service,
            event: s.event.clone(),
            data: s.event_data.clone(),
        },
        (_, None) => {
            return Err("execution and event transactions need a service (--service)".into());
        }
    };
    let tx = TxBody {
        chain_id: chain_id.to_string(),
        sender: key.public(),
        nonce,
        gas_limit: GAS_LIMIT,
        gas_price: GAS_PRICE,
        payload,
    }
    .sign(key);
    Ok(Prepared {
        bytes: tx.encode(),
        id: tx.hash(),
    })
}

/// Sends `amount` to each recipient from `funder` and waits until every transfer has
/// committed (the funder's nonce has passed them), in rounds that fit the nonce window.
pub fn fund(
    api: &Api,
    chain_id: &str,
    funder: &SecretKey,
    recipients: &[Address],
    amount: Amount,
    timeout: Duration,
) -> Result<(), String> {
    let address = funder.public().address();
    let deadline = Instant::now() + timeout;
    let account = api.account(&address).map_err(|e| e.to_string())?;
    let mut nonce = account.next_nonce.max(account.nonce);
    for chunk in recipients.chunks(FUNDING_CHUNK) {
        let txs: Vec<Vec<u8>> = chunk
            .iter()
            .enumerate()
            .map(|(i, to)| {
                TxBody {
                    chain_id: chain_id.to_string(),
                    sender: funder.public(),
                    nonce: nonce + i as u64,
                    gas_limit: GAS_LIMIT,
                    gas_price: GAS_PRICE,
                    payload: Payload::Transfer { to: *to, amount },
                }
                .sign(funder)
                .encode()
            })
            .collect();
        let body = frames(txs.iter().map(Vec::as_slice));
        let admission = loop {
            match api.post_frames("/v1/txs", &body) {
                Ok(a) => break a,
                Err(e) if e.is_busy() || matches!(e, ApiError::Unreachable { .. }) => {
                    if Instant::now() > deadline {
                        return Err(format!("funding from {address}: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("funding from {address}: {e}")),
            }
        };
        if admission.admitted != txs.len() as u64 {
            return Err(format!(
                "funding from {address}: {} of {} transfers refused: {:?}",
                txs.len() as u64 - admission.admitted,
                txs.len(),
                admission.refused
            ));
        }
        nonce += txs.len() as u64;
        loop {
            match api.account(&address) {
                Ok(a) if a.nonce >= nonce => break,
                Ok(_) | Err(ApiError::Unreachable { .. }) => {}
                Err(e) => return Err(format!("funding from {address}: {e}")),
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "funding from {address}: transfers not committed within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_refuse_nonsense() {
        let m: Mix = "transfer=70, execution=20,event=10".parse().unwrap();
        assert_eq!((m.transfer, m.execution, m.event), (70, 20, 10));
        assert!(m.needs_service());
        assert_eq!(m.to_string().parse::<Mix>().unwrap(), m);
        let only: Mix = "transfer=1".parse().unwrap();
        assert!(!only.needs_service());
        for (bad, words) in [
            ("transfer", "KIND=SHARE"),
            ("transfer=x", "whole number"),
            ("transfer=-1", "whole number"),
            ("swap=5", "unknown kind 'swap'"),
            ("transfer=0", "zero"),
            ("", "zero"),
            ("transfer=1,transfer=2", "twice"),
            ("event=2000000", "over"),
        ] {
            let e = bad.parse::<Mix>().unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn sequences_follow_the_shares_in_every_stretch() {
        let m: Mix = "transfer=70,execution=20,event=10".parse().unwrap();
        let seq = m.sequence(1000);
        let count = |k: Kind, s: &[Kind]| s.iter().filter(|&&x| x == k).count();
        assert_eq!(count(Kind::Transfer, &seq), 700);
        assert_eq!(count(Kind::Execution, &seq), 200);
        assert_eq!(count(Kind::Event, &seq), 100);
        for stretch in seq.chunks(10) {
            assert_eq!(count(Kind::Transfer, stretch), 7);
        }
    }

    #[test]
    fn accounts_are_distinct_and_repeatable() {
        let a = account_key(1, 0).public();
        assert_eq!(a, account_key(1, 0).public());
        assert_ne!(a, account_key(1, 1).public());
        assert_ne!(a, account_key(2, 0).public());
    }

    #[test]
    fn built_transactions_verify_and_kinds_need_a_service() {
        let key = account_key(0, 0);
        let p = build("c", &key, 3, Kind::Transfer, Address([1; 20]), None).unwrap();
        let tx = runnet_types::SignedTx::decode(&p.bytes).unwrap();
        assert_eq!((tx.body.nonce, tx.hash()), (3, p.id));
        assert!(tx.verify().is_ok());
        assert!(build("c", &key, 0, Kind::Execution, Address([1; 20]), None).is_err());
        let service = ServiceTarget {
            task: "add".into(),
            event: "tick".into(),
            ..ServiceTarget::default()
        };
        let p = build("c", &key, 0, Kind::Event, Address([1; 20]), Some(&service)).unwrap();
        let tx = runnet_types::SignedTx::decode(&p.bytes).unwrap();
        assert!(matches!(tx.body.payload, Payload::EmitEvent { ref event, .. } if event == "tick"));
    }
}
