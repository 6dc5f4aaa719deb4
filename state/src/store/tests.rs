//! Tests of both stores against each other and against the tree's reference definition.

use super::rocks::{HEAD_KEY, META_CF, TREE_CF, direct_io_works};
use super::tree::{self, EMPTY_ROOT, Page, Slot};
use super::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use runnet_types::Hash;
use std::collections::BTreeMap;
use tempfile::TempDir;

/// The root the definition gives for a map, computed from scratch.
fn reference_root(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
    let mut leaves: Vec<(Hash, Hash)> = map
        .iter()
        .map(|(k, v)| {
            let path = tree::key_hash(k);
            (path, tree::leaf_hash(&path, &tree::value_hash(v)))
        })
        .collect();
    leaves.sort();
    tree::root_of_sorted(&leaves, 0)
}

fn apply(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, changes: &ChangeSet) {
    for (k, v) in changes {
        match v {
            Some(v) => map.insert(k.clone(), v.clone()),
            None => map.remove(k),
        };
    }
}

fn rocks() -> (TempDir, RocksStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = RocksStore::open(dir.path()).expect("open");
    (dir, store)
}

fn key(i: u32) -> Vec<u8> {
    format!("acct/{i:06}").into_bytes()
}

fn changes(items: &[(Vec<u8>, Option<&[u8]>)]) -> ChangeSet {
    items
        .iter()
        .map(|(k, v)| (k.clone(), v.map(<[u8]>::to_vec)))
        .collect()
}

/// Small keys from a small alphabet, so sets, deletes and prefixes collide often.
fn small_key() -> impl Strategy<Value = Vec<u8>> {
    vec(0u8..4, 0..4)
}

fn change_set() -> impl Strategy<Value = ChangeSet> {
    btree_map(
        small_key(),
        proptest::option::weighted(0.6, vec(any::<u8>(), 0..8)),
        0..12,
    )
}

#[test]
fn empty_store_has_the_empty_root() {
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    assert_eq!(mem.root(), EMPTY_ROOT);
    assert_eq!(rocks.root(), EMPTY_ROOT);
    assert_eq!(mem.version(), 0);
    assert_eq!(rocks.version(), 0);
    // Committing nothing keeps the empty root.
    assert_eq!(mem.commit(1, &ChangeSet::new()).unwrap(), EMPTY_ROOT);
    assert_eq!(rocks.commit(1, &ChangeSet::new()).unwrap(), EMPTY_ROOT);
}

#[test]
fn single_key_root_is_its_leaf() {
    let mem = MemStore::new();
    let root = mem
        .commit(1, &changes(&[(b"a".to_vec(), Some(b"1"))]))
        .unwrap();
    let path = tree::key_hash(b"a");
    assert_eq!(root, tree::leaf_hash(&path, &tree::value_hash(b"1")));
}

#[test]
fn thousands_of_keys_match_the_reference_on_both_stores() {
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    let mut map = BTreeMap::new();
    let mut version = 0;
    // Grow to 3,000 keys, then rewrite and delete in overlapping waves, down to nothing.
    let mut waves: Vec<ChangeSet> = Vec::new();
    for start in (0..3000).step_by(500) {
        waves.push(
            (start..start + 500)
                .map(|i| (key(i), Some(vec![i as u8; 60])))
                .collect(),
        );
    }
    waves.push(
        (0..3000)
            .step_by(3)
            .map(|i| (key(i), if i % 2 == 0 { None } else { Some(vec![7; 61]) }))
            .collect(),
    );
    waves.push(
        (0..3000)
            .filter(|i| i % 5 != 0)
            .map(|i| (key(i), None))
            .collect(),
    );
    waves.push((0..3000).map(|i| (key(i), None)).collect());
    for wave in &waves {
        version += 1;
        apply(&mut map, wave);
        let want = reference_root(&map);
        assert_eq!(mem.commit(version, wave).unwrap(), want);
        assert_eq!(rocks.commit(version, wave).unwrap(), want);
        assert_eq!(mem.root(), want);
        assert_eq!(rocks.root(), want);
    }
    assert!(map.is_empty());
    assert_eq!(mem.root(), EMPTY_ROOT);
    assert_eq!(mem.page_count(), 0, "pages of deleted keys are all gone");
    assert_eq!(rocks.cached_pages(), 0);
    let tree_cf = rocks.db().cf_handle(TREE_CF).unwrap();
    assert_eq!(
        rocks
            .db()
            .iterator_cf(tree_cf, rocksdb::IteratorMode::Start)
            .count(),
        0
    );
}

#[test]
fn reopened_rocks_store_has_the_same_root_version_and_values() {
    let dir = TempDir::new().unwrap();
    let mut map = BTreeMap::new();
    let (root, version) = {
        let store = RocksStore::open(dir.path()).unwrap();
        for v in 1..=3u32 {
            let wave: ChangeSet = (0..400)
                .map(|i| {
                    (
                        key(i * v),
                        if i % 7 == 0 {
                            None
                        } else {
                            Some(vec![v as u8; 60])
                        },
                    )
                })
                .collect();
            apply(&mut map, &wave);
            store.commit(u64::from(v), &wave).unwrap();
        }
        (store.root(), store.version())
    };
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.version(), version);
    assert_eq!(store.root(), root);
    assert_eq!(root, reference_root(&map));
    for (k, v) in &map {
        assert_eq!(store.get(k).unwrap().as_ref(), Some(v));
    }
    // It goes on from there.
    let next: ChangeSet = changes(&[(key(1), Some(b"x"))]);
    apply(&mut map, &next);
    assert_eq!(store.commit(4, &next).unwrap(), reference_root(&map));
}

#[test]
fn extra_column_families_open_beside_the_state() {
    let dir = TempDir::new().unwrap();
    {
        let store = RocksStore::open_with_column_families(dir.path(), &["blocks"]).unwrap();
        let blocks = store.db().cf_handle("blocks").unwrap();
        store.db().put_cf(blocks, b"h1", b"block").unwrap();
        store
            .commit(1, &changes(&[(b"k".to_vec(), Some(b"v"))]))
            .unwrap();
    }
    // Opening without naming it still works: existing column families are always opened.
    let store = RocksStore::open(dir.path()).unwrap();
    let blocks = store.db().cf_handle("blocks").unwrap();
    assert_eq!(
        store.db().get_cf(blocks, b"h1").unwrap().as_deref(),
        Some(&b"block"[..])
    );
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn missing_or_corrupt_metadata_is_a_clear_error() {
    let populate = |dir: &TempDir| {
        let store = RocksStore::open(dir.path()).unwrap();
        let wave: ChangeSet = (0..100).map(|i| (key(i), Some(vec![1; 60]))).collect();
        store.commit(1, &wave).unwrap();
        store
    };
    let expect_corrupt = |dir: &TempDir, what: &str| match RocksStore::open(dir.path()) {
        Err(StoreError::Corrupt(message)) => message,
        Err(other) => panic!("{what}: expected Corrupt, got {other:?}"),
        Ok(_) => panic!("{what}: opened a damaged store"),
    };

    let dir = TempDir::new().unwrap();
    {
        let store = populate(&dir);
        let meta = store.db().cf_handle(META_CF).unwrap();
        store.db().delete_cf(meta, HEAD_KEY).unwrap();
    }
    let message = expect_corrupt(&dir, "missing head");
    assert!(message.contains("missing"), "{message}");

    let dir = TempDir::new().unwrap();
    {
        let store = populate(&dir);
        let meta = store.db().cf_handle(META_CF).unwrap();
        store.db().put_cf(meta, HEAD_KEY, b"\x01garbage").unwrap();
    }
    let message = expect_corrupt(&dir, "malformed head");
    assert!(message.contains("malformed"), "{message}");

    let dir = TempDir::new().unwrap();
    {
        let store = populate(&dir);
        let meta = store.db().cf_handle(META_CF).unwrap();
        let mut head = store.db().get_cf(meta, HEAD_KEY).unwrap().unwrap();
        let last = head.len() - 1;
        head[last] ^= 1; // the root page's hash
        store.db().put_cf(meta, HEAD_KEY, &head).unwrap();
    }
    let message = expect_corrupt(&dir, "wrong root");
    assert!(message.contains("root page"), "{message}");
}

#[test]
fn version_gap_changes_nothing() {
    let (dir, rocks) = rocks();
    let mem = MemStore::new();
    let stores: [&dyn Store; 2] = [&mem, &rocks];
    for store in stores {
        store
            .commit(1, &changes(&[(b"a".to_vec(), Some(b"1"))]))
            .unwrap();
        let root = store.root();
        let bad = changes(&[(b"a".to_vec(), Some(b"2")), (b"b".to_vec(), Some(b"3"))]);
        for version in [0, 1, 3, u64::MAX] {
            match store.commit(version, &bad) {
                Err(StoreError::VersionGap { current: 1, got }) => assert_eq!(got, version),
                other => panic!("version {version}: {other:?}"),
            }
        }
        assert_eq!(store.version(), 1);
        assert_eq!(store.root(), root);
        assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.get(b"b").unwrap(), None);
        // And the next version is still accepted.
        store.commit(2, &bad).unwrap();
        assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    }
    let reopened = RocksStore::open(dir.path());
    // The directory is held open by `rocks`; RocksDB's lock refuses a second opener.
    assert!(matches!(reopened, Err(StoreError::Io(_))));
}

#[test]
fn scan_prefix_order_after_and_limit() {
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    let entries: ChangeSet = [
        &b"a"[..],
        b"b",
        b"b\x00",
        b"b\x01",
        b"b\xff",
        b"b\xff\xff",
        b"ba",
        b"bb",
        b"c",
        b"\xff",
        b"\xff\xff",
    ]
    .iter()
    .map(|k| (k.to_vec(), Some(k.to_vec())))
    .collect();
    let stores: [&dyn Store; 2] = [&mem, &rocks];
    for store in stores {
        store.commit(1, &entries).unwrap();
        let keys = |prefix: &[u8], after: Option<&[u8]>, limit| -> Vec<Vec<u8>> {
            store
                .scan_prefix(prefix, after, limit)
                .unwrap()
                .into_iter()
                .map(|(k, v)| {
                    assert_eq!(k, v);
                    k
                })
                .collect()
        };
        let all_b: Vec<Vec<u8>> = [
            &b"b"[..],
            b"b\x00",
            b"b\x01",
            b"ba",
            b"bb",
            b"b\xff",
            b"b\xff\xff",
        ]
        .iter()
        .map(|k| k.to_vec())
        .collect();
        assert_eq!(keys(b"b", None, 100), all_b);
        assert_eq!(keys(b"b", None, 3), all_b[..3]);
        assert_eq!(keys(b"b", None, 0), Vec::<Vec<u8>>::new());
        assert_eq!(keys(b"b", Some(b"b"), 100), all_b[1..]);
        assert_eq!(keys(b"b", Some(b"b\x01"), 2), all_b[3..5]);
        assert_eq!(keys(b"b", Some(b"b\x05"), 100), all_b[3..]);
        assert_eq!(
            keys(b"b", Some(b"a"), 100),
            all_b,
            "after before the prefix"
        );
        assert_eq!(keys(b"b", Some(b"bb"), 100), all_b[5..]);
        assert_eq!(keys(b"b", Some(b"b\xff\xff"), 100), Vec::<Vec<u8>>::new());
        assert_eq!(keys(b"b", Some(b"c"), 100), Vec::<Vec<u8>>::new());
        assert_eq!(
            keys(b"\xff", None, 100),
            vec![b"\xff".to_vec(), b"\xff\xff".to_vec()]
        );
        assert_eq!(
            keys(b"\xff", Some(b"\xff"), 100),
            vec![b"\xff\xff".to_vec()]
        );
        assert_eq!(keys(b"", None, 100).len(), entries.len());
        assert_eq!(
            keys(b"", Some(b"b\xff\xff"), 2),
            vec![b"c".to_vec(), b"\xff".to_vec()]
        );
        assert_eq!(keys(b"zz", None, 100), Vec::<Vec<u8>>::new());
    }
}

#[test]
fn page_encoding_round_trips_and_rejects_garbage() {
    let mut slots = [Slot::Empty; 16];
    slots[0] = Slot::Leaf {
        path: Hash::digest(b"x"),
        value: Hash::digest(b"y"),
    };
    slots[7] = Slot::Page(Hash::digest(b"z"));
    slots[15] = Slot::Leaf {
        path: Hash::digest(b"w"),
        value: Hash::digest(b"v"),
    };
    let page = Page::from_slots(slots);
    let bytes = page.encode();
    assert_eq!(bytes.len(), 4 + 64 + 32 + 64);
    assert_eq!(Page::decode(&bytes).unwrap(), page);
    for bad in [
        &bytes[..bytes.len() - 1],
        &[bytes.as_slice(), &[0]].concat(),
        &bytes[..3],
        &[],
    ] {
        assert!(matches!(Page::decode(bad), Err(StoreError::Corrupt(_))));
    }
    // A page bit without a present bit.
    let mut bad = bytes.clone();
    bad[3] |= 0x80;
    assert!(Page::decode(&bad).is_err());
}

fn assert_proofs(store: &dyn Store, map: &BTreeMap<Vec<u8>, Vec<u8>>, probes: &[Vec<u8>]) {
    let root = store.root();
    let other_root = Hash::digest(root.as_bytes());
    for probe in map.keys().chain(probes) {
        let (value, proof) = store.prove(probe).unwrap();
        assert_eq!(value.as_ref(), map.get(probe));
        proof.verify(&root, probe, value.as_deref()).unwrap();
        // Another root.
        assert!(proof.verify(&other_root, probe, value.as_deref()).is_err());
        // A changed value, an added one, a removed one.
        match &value {
            Some(v) => {
                let mut changed = v.clone();
                changed.push(0);
                assert!(proof.verify(&root, probe, Some(&changed)).is_err());
                assert!(proof.verify(&root, probe, None).is_err());
            }
            None => assert!(proof.verify(&root, probe, Some(b"")).is_err()),
        }
        // Another key: never proves a value it does not have, nor the absence of a present key.
        for (other, other_value) in map.iter().take(8) {
            if other != probe {
                assert!(proof.verify(&root, other, value.as_deref()).is_err());
                assert!(proof.verify(&root, other, None).is_err());
                assert!(proof.verify(&root, other, Some(other_value)).is_err());
            }
        }
        // Tampering: each sibling flipped, one dropped, one added, the other leaf changed.
        for i in 0..proof.siblings.len() {
            let mut bad = proof.clone();
            bad.siblings[i].0[i % 32] ^= 1;
            assert!(bad.verify(&root, probe, value.as_deref()).is_err());
        }
        let mut bad = proof.clone();
        if bad.siblings.pop().is_some() {
            assert!(bad.verify(&root, probe, value.as_deref()).is_err());
        }
        let mut bad = proof.clone();
        bad.siblings.push(EMPTY_ROOT);
        assert!(bad.verify(&root, probe, value.as_deref()).is_err());
        let mut bad = proof.clone();
        bad.other_leaf = match bad.other_leaf {
            Some((path, mut value)) => {
                value.0[0] ^= 1;
                Some((path, value))
            }
            None => Some((Hash::digest(b"elsewhere"), Hash::ZERO)),
        };
        assert!(bad.verify(&root, probe, value.as_deref()).is_err());
        // The proof survives the canonical encoding.
        let decoded: Proof =
            runnet_types::encoding::decode(&runnet_types::encoding::encode(&proof)).unwrap();
        assert_eq!(decoded, proof);
    }
}

#[test]
fn proofs_on_both_stores() {
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    let mut map = BTreeMap::new();
    let probes: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("absent/{i}").into_bytes())
        .collect();
    let stores: [&dyn Store; 2] = [&mem, &rocks];
    // Empty tree, one key, two keys, then many.
    for store in stores {
        assert_proofs(store, &map, &probes[..5]);
    }
    let mut version = 0;
    for wave in [
        changes(&[(key(0), Some(b"zero"))]),
        changes(&[(key(1), Some(b"one"))]),
        (2..600)
            .map(|i| (key(i), Some(vec![i as u8; 60])))
            .collect(),
    ] {
        version += 1;
        apply(&mut map, &wave);
        for store in stores {
            store.commit(version, &wave).unwrap();
            assert_proofs(store, &map, &probes);
        }
    }
}

#[test]
fn old_proof_fails_against_the_new_root() {
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    let stores: [&dyn Store; 2] = [&mem, &rocks];
    for store in stores {
        let wave: ChangeSet = (0..50).map(|i| (key(i), Some(vec![1; 60]))).collect();
        store.commit(1, &wave).unwrap();
        let old_root = store.root();
        let (old_value, old_proof) = store.prove(&key(7)).unwrap();
        let (_, old_absent) = store.prove(b"newcomer").unwrap();
        old_proof
            .verify(&old_root, &key(7), old_value.as_deref())
            .unwrap();
        old_absent.verify(&old_root, b"newcomer", None).unwrap();

        store
            .commit(
                2,
                &changes(&[(key(7), Some(b"new")), (b"newcomer".to_vec(), Some(b"hi"))]),
            )
            .unwrap();
        let root = store.root();
        assert!(
            old_proof
                .verify(&root, &key(7), old_value.as_deref())
                .is_err()
        );
        assert!(old_proof.verify(&root, &key(7), Some(b"new")).is_err());
        assert!(old_absent.verify(&root, b"newcomer", None).is_err());
        assert!(old_absent.verify(&root, b"newcomer", Some(b"hi")).is_err());
        let (value, proof) = store.prove(&key(7)).unwrap();
        assert_eq!(value.as_deref(), Some(&b"new"[..]));
        proof.verify(&root, &key(7), Some(b"new")).unwrap();

        // Deleted: the new proof shows absence, the old one no longer shows anything.
        store.commit(3, &changes(&[(key(7), None)])).unwrap();
        let root = store.root();
        assert!(proof.verify(&root, &key(7), Some(b"new")).is_err());
        let (value, absent) = store.prove(&key(7)).unwrap();
        assert_eq!(value, None);
        absent.verify(&root, &key(7), None).unwrap();
    }
}

#[test]
fn proof_verify_rejects_malformed_proofs() {
    let proof = Proof {
        siblings: vec![EMPTY_ROOT; 257],
        other_leaf: None,
    };
    assert_eq!(
        proof.verify(&EMPTY_ROOT, b"k", None),
        Err(ProofError::TooDeep(257))
    );
    // Another leaf in a proof of a present value.
    let proof = Proof {
        siblings: vec![],
        other_leaf: Some((Hash::digest(b"x"), Hash::ZERO)),
    };
    assert_eq!(
        proof.verify(&EMPTY_ROOT, b"k", Some(b"v")),
        Err(ProofError::UnexpectedLeaf)
    );
    // The "other" leaf is the key itself.
    let path = tree::key_hash(b"k");
    let proof = Proof {
        siblings: vec![],
        other_leaf: Some((path, tree::value_hash(b"v"))),
    };
    let root = tree::leaf_hash(&path, &tree::value_hash(b"v"));
    assert_eq!(proof.verify(&root, b"k", None), Err(ProofError::SameKey));
    // The empty tree proves every absence and no presence.
    let empty = Proof {
        siblings: vec![],
        other_leaf: None,
    };
    empty.verify(&EMPTY_ROOT, b"anything", None).unwrap();
    assert!(empty.verify(&EMPTY_ROOT, b"anything", Some(b"")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Both stores, fed the same commits, agree with each other and with the definition after each.
    #[test]
    fn both_stores_agree_with_the_reference(waves in vec(change_set(), 1..8)) {
        let (_dir, rocks) = rocks();
        let mem = MemStore::new();
        let mut map = BTreeMap::new();
        for (i, wave) in waves.iter().enumerate() {
            apply(&mut map, wave);
            let want = reference_root(&map);
            let version = i as u64 + 1;
            prop_assert_eq!(mem.commit(version, wave).unwrap(), want);
            prop_assert_eq!(rocks.commit(version, wave).unwrap(), want);
        }
        for store in [&mem as &dyn Store, &rocks] {
            let all = store.scan_prefix(b"", None, usize::MAX).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = map.clone().into_iter().collect();
            prop_assert_eq!(all, want);
        }
    }

    /// The root depends on the final map only: replaying the same operations in other batches, or
    /// writing the final map at once, gives the same root; deleting everything gives the empty root.
    #[test]
    fn root_depends_only_on_the_content(
        ops in vec((small_key(), proptest::option::weighted(0.6, vec(any::<u8>(), 0..8))), 0..60),
        cuts_a in vec(0usize..60, 0..8),
        cuts_b in vec(0usize..60, 0..8),
    ) {
        // Splits the operations into consecutive change sets at the given cuts (a later operation
        // on the same key within one set wins, as when applied one by one).
        let batches = |cuts: &[usize]| -> Vec<ChangeSet> {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (ops.len() + 1)).collect();
            cuts.push(ops.len());
            cuts.sort_unstable();
            let mut out = Vec::new();
            let mut start = 0;
            for cut in cuts {
                out.push(ops[start..cut].iter().cloned().collect());
                start = cut;
            }
            out
        };
        let mut map = BTreeMap::new();
        for (k, v) in &ops {
            match v {
                Some(v) => map.insert(k.clone(), v.clone()),
                None => map.remove(k),
            };
        }
        let want = reference_root(&map);
        let run = |store: &dyn Store, batches: Vec<ChangeSet>| -> Hash {
            let base = store.version();
            for (i, batch) in batches.iter().enumerate() {
                store.commit(base + i as u64 + 1, batch).unwrap();
            }
            store.root()
        };
        let mem_a = MemStore::new();
        prop_assert_eq!(run(&mem_a, batches(&cuts_a)), want);
        let (_dir, rocks_b) = rocks();
        prop_assert_eq!(run(&rocks_b, batches(&cuts_b)), want);
        let once: ChangeSet = map.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        prop_assert_eq!(run(&MemStore::new(), vec![once]), want);

        // Deleting everything, in two steps, comes back to the empty root and no pages.
        let keys: Vec<Vec<u8>> = map.keys().cloned().collect();
        let (first, second) = keys.split_at(keys.len() / 2);
        let delete = |part: &[Vec<u8>]| part.iter().map(|k| (k.clone(), None)).collect::<ChangeSet>();
        prop_assert_eq!(run(&mem_a, vec![delete(first), delete(second)]), EMPTY_ROOT);
        prop_assert_eq!(mem_a.page_count(), 0);
        prop_assert_eq!(run(&rocks_b, vec![delete(second), delete(first)]), EMPTY_ROOT);
    }

    /// Every key's proof, present or absent, checks against the root and fails when anything
    /// about it is wrong.
    #[test]
    fn proofs_verify_and_fail_when_wrong(
        map in btree_map(vec(any::<u8>(), 0..6), vec(any::<u8>(), 0..8), 0..40),
        probes in vec(vec(any::<u8>(), 0..6), 0..10),
    ) {
        let mem = MemStore::new();
        let wave: ChangeSet = map.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        mem.commit(1, &wave).unwrap();
        assert_proofs(&mem, &map, &probes);
    }

    /// scan_prefix gives the same answers on both stores, as the map's ordered range does.
    #[test]
    fn scan_prefix_matches_the_map(
        wave in change_set(),
        prefix in vec(0u8..4, 0..3),
        after in proptest::option::of(small_key()),
        limit in 0usize..6,
    ) {
        let (_dir, rocks) = rocks();
        let mem = MemStore::new();
        mem.commit(1, &wave).unwrap();
        rocks.commit(1, &wave).unwrap();
        let mut map = BTreeMap::new();
        apply(&mut map, &wave);
        let want: Vec<(Vec<u8>, Vec<u8>)> = map
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
            .take(limit)
            .collect();
        prop_assert_eq!(&mem.scan_prefix(&prefix, after.as_deref(), limit).unwrap(), &want);
        prop_assert_eq!(&rocks.scan_prefix(&prefix, after.as_deref(), limit).unwrap(), &want);
    }
}

#[test]
fn stores_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<MemStore>();
    check::<RocksStore>();
}

#[test]
fn corrupt_page_is_an_error_not_a_panic() {
    let (dir, store) = rocks();
    let wave: ChangeSet = (0..100).map(|i| (key(i), Some(vec![1; 60]))).collect();
    store.commit(1, &wave).unwrap();
    // Write garbage over every page below the root, then reopen so nothing is cached.
    drop(store);
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            [super::rocks::VALUES_CF, TREE_CF, META_CF],
        )
        .unwrap();
        let tree_cf = db.cf_handle(TREE_CF).unwrap();
        let keys: Vec<Box<[u8]>> = db
            .iterator_cf(tree_cf, rocksdb::IteratorMode::Start)
            .map(|e| e.unwrap().0)
            .filter(|k| k[0] > 0)
            .collect();
        for k in keys {
            db.put_cf(tree_cf, k, b"junk").unwrap();
        }
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert!(matches!(store.prove(&key(3)), Err(StoreError::Corrupt(_))));
    let next: ChangeSet = (0..100).map(|i| (key(i), Some(vec![2; 60]))).collect();
    assert!(matches!(
        store.commit(2, &next),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.version(), 1, "a failed commit changes nothing");
    assert_eq!(store.get(&key(3)).unwrap(), Some(vec![1; 60]));
}

#[test]
fn versioned_proofs_hold_while_another_thread_commits() {
    let (_dir, rocks) = rocks();
    let stores: Vec<std::sync::Arc<dyn Store>> = vec![
        std::sync::Arc::new(MemStore::new()),
        std::sync::Arc::new(rocks),
    ];
    for store in stores {
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for version in 1..=150u64 {
                    let wave: ChangeSet = (0..40)
                        .map(|i| (key(i), Some(version.to_le_bytes().to_vec())))
                        .collect();
                    store.commit(version, &wave).unwrap();
                }
            })
        };
        let mut checked = 0;
        while !writer.is_finished() || checked == 0 {
            let proved = store.prove_versioned(&key(checked % 40)).unwrap();
            proved
                .proof
                .verify(&proved.root, &key(checked % 40), proved.value.as_deref())
                .unwrap();
            if let Some(value) = &proved.value {
                assert_eq!(value, &proved.version.to_le_bytes().to_vec());
            }
            checked += 1;
        }
        writer.join().unwrap();
    }
}

#[test]
fn the_direct_io_probe_leaves_nothing_behind() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("db");
    // Either answer is right, depending on the file system; the folder is made either way.
    let _ = direct_io_works(&db);
    assert!(db.is_dir());
    assert_eq!(std::fs::read_dir(&db).unwrap().count(), 0);
    // A folder that cannot be made cannot be probed.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(!direct_io_works(&file.join("db")));
}

#[test]
fn side_writes_commit_with_the_state_and_leave_the_root_alone() {
    let dir = TempDir::new().unwrap();
    let wave = changes(&[(key(1), Some(b"one")), (key(2), Some(b"two"))]);
    let side = [
        SideWrite::put("receipts", b"r1".to_vec(), b"receipt".to_vec()),
        SideWrite::new_root("receipts", b"root".to_vec()),
        SideWrite::delete("receipts", b"absent".to_vec()),
    ];
    let plain = MemStore::new().commit(1, &wave).unwrap();
    let mem = MemStore::new();
    assert_eq!(mem.commit_with(1, &wave, &side).unwrap(), plain);
    assert_eq!(mem.side_value("receipts", b"r1"), Some(b"receipt".to_vec()));
    assert_eq!(mem.side_value("receipts", b"root"), Some(plain.0.to_vec()));
    {
        let rocks = RocksStore::open_with_column_families(dir.path(), &["receipts"]).unwrap();
        assert_eq!(rocks.commit_with(1, &wave, &side).unwrap(), plain);
    }
    // Reopened, as after a kill: the state and the side writes are both there.
    let rocks = RocksStore::open(dir.path()).unwrap();
    let cf = rocks.db().cf_handle("receipts").unwrap();
    let read = |k: &[u8]| rocks.db().get_cf(cf, k).unwrap();
    assert_eq!(rocks.version(), 1);
    assert_eq!(rocks.root(), plain);
    assert_eq!(read(b"r1"), Some(b"receipt".to_vec()));
    assert_eq!(read(b"root"), Some(plain.0.to_vec()));
    assert_eq!(read(b"absent"), None);
}

/// A store with nothing but the state, relying on the trait's default `commit_with`.
struct StateOnly(MemStore);

impl Store for StateOnly {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.0.scan_prefix(prefix, after, limit)
    }
    fn commit(&self, version: u64, changes: &ChangeSet) -> Result<Hash, StoreError> {
        self.0.commit(version, changes)
    }
    fn root(&self) -> Hash {
        self.0.root()
    }
    fn version(&self) -> u64 {
        self.0.version()
    }
    fn prove_versioned(&self, key: &[u8]) -> Result<VersionedProof, StoreError> {
        self.0.prove_versioned(key)
    }
}

#[test]
fn refused_side_writes_commit_nothing() {
    let wave = changes(&[(key(1), Some(b"one"))]);
    let into_state = [SideWrite::put(
        super::rocks::VALUES_CF,
        key(9),
        b"x".to_vec(),
    )];
    let unknown = [SideWrite::put("nope", b"k".to_vec(), b"x".to_vec())];
    let (_dir, rocks) = rocks();
    let mem = MemStore::new();
    let only = StateOnly(MemStore::new());
    let attempts: [(&dyn Store, &[SideWrite]); 4] = [
        (&rocks, &into_state),
        (&rocks, &unknown),
        (&mem, &into_state),
        (&only, &unknown),
    ];
    for (i, (store, side)) in attempts.into_iter().enumerate() {
        match store.commit_with(1, &wave, side) {
            Err(StoreError::Side(_)) => {}
            other => panic!("attempt {i}: expected a refused side write, got {other:?}"),
        }
        assert_eq!(store.version(), 0, "attempt {i}");
        assert_eq!(store.get(&key(1)).unwrap(), None, "attempt {i}");
        assert_eq!(store.get(&key(9)).unwrap(), None, "attempt {i}");
    }
    // Without side writes the default commits as before.
    assert_eq!(
        only.commit_with(1, &wave, &[]).unwrap(),
        mem.commit(1, &wave).unwrap()
    );
}
