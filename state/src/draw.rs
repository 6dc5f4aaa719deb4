//! The one draw procedure (docs/economy.md, "Randomness"): from candidates sorted by id, weighted by
//! stake, without replacement. For the i-th pick,
//! `r = u128 from the first 16 bytes (little endian) of blake3(seed, purpose, object id, i)`,
//! `r mod total_weight` selects the first candidate whose running total exceeds it.
//!
//! The seed of a draw caused by block h is `seed_{h+1}`, which nobody knew when block h was built,
//! so neither a requester nor a proposer can aim a draw.

use runnet_types::Hash;
use runnet_types::encoding::hash_of;

/// Draws up to `count` distinct ids. `candidates` must be sorted by id; zero weights never win.
pub fn draw(
    seed: &Hash,
    purpose: &str,
    object: &Hash,
    candidates: &[(Hash, u64)],
    count: usize,
) -> Vec<Hash> {
    let mut pool: Vec<(Hash, u128)> = candidates
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(id, w)| (*id, u128::from(*w)))
        .collect();
    let mut picked = Vec::with_capacity(count.min(pool.len()));
    for i in 0..count as u64 {
        let total: u128 = pool.iter().map(|(_, w)| w).sum();
        if total == 0 {
            break;
        }
        let digest = hash_of(&(seed, purpose, object, i));
        let mut first16 = [0u8; 16];
        first16.copy_from_slice(&digest.0[..16]);
        let r = u128::from_le_bytes(first16) % total;
        let mut running = 0u128;
        let Some(index) = pool.iter().position(|(_, w)| {
            running += w;
            running > r
        }) else {
            break;
        };
        picked.push(pool.remove(index).0);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<(Hash, u64)> {
        (1..=n).map(|i| (Hash([i; 32]), 100)).collect()
    }

    #[test]
    fn draws_without_replacement_and_deterministically() {
        let seed = Hash([9; 32]);
        let a = draw(&seed, "verifier", &Hash([1; 32]), &ids(5), 3);
        assert_eq!(a.len(), 3);
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 3);
        assert_eq!(a, draw(&seed, "verifier", &Hash([1; 32]), &ids(5), 3));
        assert_eq!(draw(&seed, "verifier", &Hash([1; 32]), &ids(2), 5).len(), 2);
    }

    #[test]
    fn the_formula_is_the_one_written() {
        let seed = Hash([3; 32]);
        let object = Hash([4; 32]);
        let candidates = vec![(Hash([1; 32]), 10), (Hash([2; 32]), 30)];
        let digest = hash_of(&(&seed, "runner", &object, 0u64));
        let r = u128::from_le_bytes(digest.0[..16].try_into().unwrap()) % 40;
        let expected = if r < 10 { Hash([1; 32]) } else { Hash([2; 32]) };
        assert_eq!(
            draw(&seed, "runner", &object, &candidates, 1),
            vec![expected]
        );
    }

    #[test]
    fn weight_matters_and_zero_weight_never_wins() {
        let candidates = vec![(Hash([1; 32]), 1), (Hash([2; 32]), 99), (Hash([3; 32]), 0)];
        let mut heavy = 0;
        for i in 0..1000u32 {
            let seed = Hash::digest(&i.to_le_bytes());
            let pick = draw(&seed, "runner", &Hash::ZERO, &candidates, 1)[0];
            assert_ne!(pick, Hash([3; 32]));
            heavy += usize::from(pick == Hash([2; 32]));
        }
        assert!(heavy > 950, "the 99-weight candidate won {heavy} of 1000");
    }

    #[test]
    fn other_seed_or_purpose_changes_the_draw() {
        let c = ids(20);
        let base = draw(&Hash([1; 32]), "runner", &Hash::ZERO, &c, 5);
        assert_ne!(base, draw(&Hash([2; 32]), "runner", &Hash::ZERO, &c, 5));
        assert_ne!(base, draw(&Hash([1; 32]), "verifier", &Hash::ZERO, &c, 5));
    }
}
