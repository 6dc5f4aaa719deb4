//! The sparse Merkle tree: its definition (how keys, values and subtrees hash), its storage unit
//! (the page) and the two algorithms on it (batch update, proof), shared by both stores.
//!
//! # Definition
//!
//! Every key sits at the path `blake3(key)` (256 bits, most significant bit first), so the tree stays
//! balanced whatever the keys look like. A subtree holding no key hashes to [`EMPTY_ROOT`] (zero), a
//! subtree holding exactly one key hashes to that key's [`leaf_hash`] (the leaf is "collapsed" up to
//! the highest node whose subtree holds only it), and any other subtree hashes to [`node_hash`] of its
//! two halves. The root is therefore a pure function of the key/value set, whatever commits built it.
//!
//! # Storage
//!
//! The binary tree is stored in pages of four levels: the page at a 4-bit-aligned position (a
//! [`PageKey`]: a depth in nibbles and the nibbles of the path above it) has 16 [`Slot`]s, one per
//! subtree four levels down. A slot is empty, holds the one leaf of its subtree, or points to the
//! page below it (with that page's hash). A page exists exactly when its subtree holds two keys or
//! more, so pages are stored by path and the store keeps only the latest version: an update
//! overwrites or deletes the pages on the changed paths, there is nothing stale to prune. A page's
//! 15 inner binary nodes are recomputed from its slots when needed (15 one-block hashes at most).

use super::StoreError;
use super::proof::Proof;
use runnet_types::Hash;
use std::sync::Arc;

/// blake3 key of leaf hashes (keyed hashing separates the domains; 64-byte inputs stay one block).
const LEAF_KEY: [u8; 32] = *b"runnet-state-merkle-leaf-v1_____";
/// blake3 key of internal node hashes.
const NODE_KEY: [u8; 32] = *b"runnet-state-merkle-node-v1_____";

/// The root of the empty map (and the hash of any empty subtree).
pub const EMPTY_ROOT: Hash = Hash::ZERO;

/// Nibbles in a path: the deepest a page can be.
pub const MAX_PAGE_DEPTH: usize = 64;

/// Where a key sits in the tree.
pub fn key_hash(key: &[u8]) -> Hash {
    Hash::digest(key)
}

/// What a leaf commits to of its value.
pub fn value_hash(value: &[u8]) -> Hash {
    Hash::digest(value)
}

/// The hash of a leaf: its key's path and its value's hash.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(key_hash.as_bytes());
    input[32..].copy_from_slice(value_hash.as_bytes());
    Hash(*blake3::keyed_hash(&LEAF_KEY, &input).as_bytes())
}

/// The hash of an internal node from its two children's hashes.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(left.as_bytes());
    input[32..].copy_from_slice(right.as_bytes());
    Hash(*blake3::keyed_hash(&NODE_KEY, &input).as_bytes())
}

/// Bit `index` (0 = most significant bit of byte 0) of a path. `index` < 256.
#[inline]
pub fn bit(path: &Hash, index: usize) -> bool {
    (path.0[index / 8] >> (7 - index % 8)) & 1 == 1
}

/// Nibble `index` (0 = high half of byte 0) of a path. `index` < 64.
#[inline]
pub fn nibble(path: &Hash, index: usize) -> usize {
    let byte = path.0[index / 2];
    usize::from(if index.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    })
}

/// Reference implementation of the definition: the root of leaves `(key_hash, leaf_hash)` sorted by
/// key hash and sharing their first `depth` bits. Recomputes everything; tests check the stores
/// against it.
pub fn root_of_sorted(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [(_, leaf)] => *leaf,
        _ => {
            let split = leaves.partition_point(|(path, _)| !bit(path, depth));
            node_hash(
                &root_of_sorted(&leaves[..split], depth + 1),
                &root_of_sorted(&leaves[split..], depth + 1),
            )
        }
    }
}

/// One of a page's 16 subtrees (or the whole tree, for the root).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Slot {
    /// No key below.
    #[default]
    Empty,
    /// Exactly one key below: its path and its value's hash.
    Leaf { path: Hash, value: Hash },
    /// Two keys or more below, in the page one level down, whose hash this is.
    Page(Hash),
}

impl Slot {
    pub fn hash(&self) -> Hash {
        match self {
            Slot::Empty => EMPTY_ROOT,
            Slot::Leaf { path, value } => leaf_hash(path, value),
            Slot::Page(hash) => *hash,
        }
    }

    /// Encoded size: a tag byte and the payload.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Slot::Empty => out.push(0),
            Slot::Leaf { path, value } => {
                out.push(1);
                out.extend_from_slice(path.as_bytes());
                out.extend_from_slice(value.as_bytes());
            }
            Slot::Page(hash) => {
                out.push(2);
                out.extend_from_slice(hash.as_bytes());
            }
        }
    }

    /// Decodes exactly one slot from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Slot, StoreError> {
        match bytes {
            [0] => Ok(Slot::Empty),
            [1, rest @ ..] if rest.len() == 64 => Ok(Slot::Leaf {
                path: hash_at(rest, 0),
                value: hash_at(rest, 32),
            }),
            [2, rest @ ..] if rest.len() == 32 => Ok(Slot::Page(hash_at(rest, 0))),
            _ => Err(StoreError::Corrupt(format!(
                "malformed root slot of {} bytes",
                bytes.len()
            ))),
        }
    }
}

/// The 32 bytes of `bytes` at `offset`; the caller has checked the length.
fn hash_at(bytes: &[u8], offset: usize) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[offset..offset + 32]);
    Hash(out)
}

/// Where a page sits: its depth in nibbles and the nibbles of the path above it (the rest zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageKey {
    depth: u8,
    path: [u8; 32],
}

impl PageKey {
    /// The page at the top of the tree.
    pub const ROOT: PageKey = PageKey {
        depth: 0,
        path: [0; 32],
    };

    pub fn depth(&self) -> usize {
        usize::from(self.depth)
    }

    /// The page below slot `nibble` of this one. `self.depth()` < 64.
    pub fn child(&self, nibble: usize) -> PageKey {
        let depth = self.depth();
        let mut path = self.path;
        // `nibble` < 16, so the cast keeps every bit.
        let nibble = nibble as u8 & 0x0f;
        path[depth / 2] |= if depth.is_multiple_of(2) {
            nibble << 4
        } else {
            nibble
        };
        PageKey {
            depth: self.depth + 1,
            path,
        }
    }

    /// The key in storage: the depth byte, then the path's nibbles, packed (`1 + ⌈depth/2⌉` bytes).
    pub fn encode(&self) -> Vec<u8> {
        let (bytes, len) = self.encode_array();
        bytes[..len].to_vec()
    }

    /// [`PageKey::encode`] without allocating: the bytes and how many of them are used.
    pub fn encode_array(&self) -> ([u8; 33], usize) {
        let len = 1 + self.depth().div_ceil(2);
        let mut out = [0u8; 33];
        out[0] = self.depth;
        out[1..len].copy_from_slice(&self.path[..len - 1]);
        (out, len)
    }
}

/// A stored page: four levels of the binary tree, as its 16 bottom subtrees, with the hashes of its
/// 15 inner binary nodes kept in memory (they are not stored: decoding recomputes them), so a change
/// rehashes only the nodes above the changed slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    slots: [Slot; 16],
    /// Inner node hashes as a heap: 1 is the page's top, `2i` and `2i + 1` the children of `i`,
    /// 8..16 the parents of slot pairs (index 0 unused). An empty node hashes to zero, a node over
    /// exactly one key to that key's leaf hash.
    inner: [Hash; 16],
}

/// What a binary node's subtree holds, as far as hashing needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Empty,
    /// Exactly one key: the node hashes to its leaf hash.
    Leaf,
    /// Two keys or more.
    Inner,
}

/// The slots under heap node `index` (1..32) of a page, as a bit mask.
fn span(index: usize) -> u16 {
    // Level of the node: 0 for the top (1), 4 for the slots (16..32).
    let level = usize::BITS - 1 - index.leading_zeros();
    let width = 16u32 >> level;
    let first = (index << (4 - level)) - 16;
    // width ≤ 16 and first + width ≤ 16, so the mask fits in 16 bits.
    (((1u32 << width) - 1) << first) as u16
}

impl Page {
    /// A page holding `slots`, its inner hashes computed.
    pub fn from_slots(slots: [Slot; 16]) -> Page {
        let mut page = Page {
            slots,
            inner: [EMPTY_ROOT; 16],
        };
        page.rehash(u16::MAX);
        page
    }

    pub fn slots(&self) -> &[Slot; 16] {
        &self.slots
    }

    /// The hash of the subtree this page holds.
    pub fn hash(&self) -> Hash {
        self.inner[1]
    }

    /// Bit masks of the non-empty slots and of the page slots.
    fn masks(&self) -> (u16, u16) {
        let mut present = 0;
        let mut pages = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Empty => {}
                Slot::Leaf { .. } => present |= 1 << i,
                Slot::Page(_) => {
                    present |= 1 << i;
                    pages |= 1 << i;
                }
            }
        }
        (present, pages)
    }

    /// What heap node `index` (1..32) holds, given the page's masks.
    fn kind(index: usize, (present, pages): (u16, u16)) -> Kind {
        let span = span(index);
        match (present & span).count_ones() {
            0 => Kind::Empty,
            1 if pages & span == 0 => Kind::Leaf,
            _ => Kind::Inner,
        }
    }

    /// The hash of heap node `index` (1..32).
    fn node_hash(&self, index: usize) -> Hash {
        if index < 16 {
            self.inner[index]
        } else {
            self.slots[index - 16].hash()
        }
    }

    /// Recomputes the inner nodes above the slots in `dirty`, bottom-up.
    fn rehash(&mut self, dirty: u16) {
        let masks = self.masks();
        for index in (1..16).rev() {
            if dirty & span(index) == 0 {
                continue;
            }
            let (left, right) = (2 * index, 2 * index + 1);
            self.inner[index] = match (Page::kind(left, masks), Page::kind(right, masks)) {
                (Kind::Empty, Kind::Empty) => EMPTY_ROOT,
                // A lone leaf is collapsed upwards: the node hashes to it.
                (Kind::Leaf, Kind::Empty) => self.node_hash(left),
                (Kind::Empty, Kind::Leaf) => self.node_hash(right),
                _ => node_hash(&self.node_hash(left), &self.node_hash(right)),
            };
        }
    }

    /// Storage form: a bitmap of non-empty slots, a bitmap of page slots (both u16 little endian),
    /// then each non-empty slot in order: 32 bytes (a page's hash) or 64 (a leaf's path and value
    /// hash).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 16 * 64);
        self.encode_into(&mut out);
        out
    }

    /// Appends [`Page::encode`] to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut present = 0u16;
        let mut pages = 0u16;
        out.extend_from_slice(&[0; 4]);
        for (i, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Empty => {}
                Slot::Leaf { path, value } => {
                    present |= 1 << i;
                    out.extend_from_slice(path.as_bytes());
                    out.extend_from_slice(value.as_bytes());
                }
                Slot::Page(hash) => {
                    present |= 1 << i;
                    pages |= 1 << i;
                    out.extend_from_slice(hash.as_bytes());
                }
            }
        }
        out[start..start + 2].copy_from_slice(&present.to_le_bytes());
        out[start + 2..start + 4].copy_from_slice(&pages.to_le_bytes());
    }

    pub fn decode(bytes: &[u8]) -> Result<Page, StoreError> {
        let corrupt =
            || StoreError::Corrupt(format!("malformed tree page of {} bytes", bytes.len()));
        let (head, mut rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let present = u16::from_le_bytes([head[0], head[1]]);
        let pages = u16::from_le_bytes([head[2], head[3]]);
        if pages & !present != 0 {
            return Err(corrupt());
        }
        let mut slots = [Slot::Empty; 16];
        for (i, slot) in slots.iter_mut().enumerate() {
            if present & (1 << i) == 0 {
                continue;
            }
            let size = if pages & (1 << i) != 0 { 32 } else { 64 };
            if rest.len() < size {
                return Err(corrupt());
            }
            *slot = if size == 32 {
                Slot::Page(hash_at(rest, 0))
            } else {
                Slot::Leaf {
                    path: hash_at(rest, 0),
                    value: hash_at(rest, 32),
                }
            };
            rest = &rest[size..];
        }
        if !rest.is_empty() {
            return Err(corrupt());
        }
        Ok(Page::from_slots(slots))
    }
}

/// Where the tree's pages are read from during an update or a proof.
pub trait PageSource {
    /// The page at `key`, `None` when there is none.
    fn page(&self, key: &PageKey) -> Result<Option<Arc<Page>>, StoreError>;
}

/// The result of applying a change set to the tree: the new root slot and the pages to write
/// (`Some`) or delete (`None`), each page at most once.
#[derive(Debug, Default)]
pub struct Update {
    pub root: Slot,
    pub writes: Vec<(PageKey, Option<Arc<Page>>)>,
}

/// A block's changes as the tree sees them: `(blake3(key), Some(blake3(value)) or None)`, sorted by
/// path. Fails only if two keys share a path (a blake3 collision).
pub fn hashed_changes<'a>(
    changes: impl IntoIterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
) -> Result<Vec<(Hash, Option<Hash>)>, StoreError> {
    let mut hashed: Vec<(Hash, Option<Hash>)> = changes
        .into_iter()
        .map(|(key, value)| (key_hash(key), value.as_deref().map(value_hash)))
        .collect();
    hashed.sort_unstable_by_key(|(path, _)| *path);
    if hashed.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(StoreError::Corrupt(
            "two keys of one change set hash to the same path".into(),
        ));
    }
    Ok(hashed)
}

/// Applies `changes` (from [`hashed_changes`]) to the tree whose root slot is `root`. Reads only the
/// pages on the changed paths and writes nothing: the caller stores [`Update::writes`].
pub fn update(
    source: &impl PageSource,
    root: Slot,
    changes: &[(Hash, Option<Hash>)],
) -> Result<Update, StoreError> {
    let mut writes = Vec::new();
    let root = update_slot(source, root, PageKey::ROOT, changes, &mut writes)?;
    Ok(Update { root, writes })
}

/// The new content of `slot`, the subtree at `key`, after `changes` (all inside that subtree).
fn update_slot(
    source: &impl PageSource,
    slot: Slot,
    key: PageKey,
    changes: &[(Hash, Option<Hash>)],
    writes: &mut Vec<(PageKey, Option<Arc<Page>>)>,
) -> Result<Slot, StoreError> {
    if changes.is_empty() {
        return Ok(slot);
    }
    match slot {
        Slot::Page(hash) => {
            let page = source.page(&key)?.ok_or_else(|| {
                StoreError::Corrupt(format!("missing tree page at depth {}", key.depth()))
            })?;
            update_page(source, Some((page, hash)), key, changes, writes)
        }
        Slot::Empty => place(source, None, key, changes, writes),
        Slot::Leaf { path, value } => place(source, Some((path, value)), key, changes, writes),
    }
}

/// The new content of a subtree that held at most one key (`existing`).
fn place(
    source: &impl PageSource,
    existing: Option<(Hash, Hash)>,
    key: PageKey,
    changes: &[(Hash, Option<Hash>)],
    writes: &mut Vec<(PageKey, Option<Arc<Page>>)>,
) -> Result<Slot, StoreError> {
    // The existing leaf survives unless the changes set or delete its key.
    let existing = existing.filter(|(path, _)| {
        changes
            .binary_search_by(|(changed, _)| changed.cmp(path))
            .is_err()
    });
    let mut sets = changes
        .iter()
        .filter_map(|(path, value)| value.map(|value| (*path, value)));
    let first = sets.next();
    let second = sets.next();
    match (existing, first, second) {
        (None, None, _) => Ok(Slot::Empty),
        (Some((path, value)), None, _) | (None, Some((path, value)), None) => {
            Ok(Slot::Leaf { path, value })
        }
        (None, Some(_), Some(_)) => update_page(source, None, key, changes, writes),
        (Some((path, value)), Some(_), _) => {
            // Two keys or more: a new page, built from the existing leaf and the changes.
            let mut merged = Vec::with_capacity(changes.len() + 1);
            let at = changes.partition_point(|(changed, _)| *changed < path);
            merged.extend_from_slice(&changes[..at]);
            merged.push((path, Some(value)));
            merged.extend_from_slice(&changes[at..]);
            update_page(source, None, key, &merged, writes)
        }
    }
}

/// The new content of the subtree at `key`, held in page `old` (with its hash) or in a new page.
fn update_page(
    source: &impl PageSource,
    old: Option<(Arc<Page>, Hash)>,
    key: PageKey,
    changes: &[(Hash, Option<Hash>)],
    writes: &mut Vec<(PageKey, Option<Arc<Page>>)>,
) -> Result<Slot, StoreError> {
    let depth = key.depth();
    if depth >= MAX_PAGE_DEPTH {
        // Distinct paths part before their last nibble; only a blake3 collision gets here.
        return Err(StoreError::Corrupt("tree deeper than a path".into()));
    }
    let mut page = old
        .as_ref()
        .map(|(page, _)| Page::clone(page))
        .unwrap_or_default();
    let mut dirty = 0u16;
    let mut rest = changes;
    while let Some((first, _)) = rest.first() {
        let slot = nibble(first, depth);
        // Sorted by path, and all sharing the first `depth` nibbles: sorted by this nibble.
        let end = rest.partition_point(|(path, _)| nibble(path, depth) <= slot);
        let (group, tail) = rest.split_at(end);
        let before = page.slots[slot];
        let after = update_slot(source, before, key.child(slot), group, writes)?;
        if after != before {
            page.slots[slot] = after;
            dirty |= 1 << slot;
        }
        rest = tail;
    }
    if let Some((_, old_hash)) = &old
        && dirty == 0
    {
        // Nothing changed below (say, deleting absent keys): the page stays as it is.
        return Ok(Slot::Page(*old_hash));
    }
    let mut present = page.slots.iter().filter(|slot| **slot != Slot::Empty);
    let first = present.next().copied();
    let more = present.next().is_some();
    let result = match (first, more) {
        (None, _) => Slot::Empty,
        // One key left: it collapses into the slot above, and the page goes.
        (Some(leaf @ Slot::Leaf { .. }), false) => leaf,
        _ => {
            page.rehash(dirty);
            let hash = page.hash();
            writes.push((key, Some(Arc::new(page))));
            return Ok(Slot::Page(hash));
        }
    };
    if old.is_some() {
        writes.push((key, None));
    }
    Ok(result)
}

/// A proof for the key at `path` in the tree whose root slot is `root`.
pub fn prove(source: &impl PageSource, root: Slot, path: &Hash) -> Result<Proof, StoreError> {
    let mut siblings = Vec::new();
    let end_at = |slot: Slot, siblings: Vec<Hash>| Proof {
        other_leaf: match slot {
            Slot::Leaf { path: other, value } if other != *path => Some((other, value)),
            _ => None,
        },
        siblings,
    };
    let mut slot = root;
    let mut key = PageKey::ROOT;
    loop {
        let Slot::Page(_) = slot else {
            return Ok(end_at(slot, siblings));
        };
        if key.depth() >= MAX_PAGE_DEPTH {
            return Err(StoreError::Corrupt("tree deeper than a path".into()));
        }
        let page = source.page(&key)?.ok_or_else(|| {
            StoreError::Corrupt(format!("missing tree page at depth {}", key.depth()))
        })?;
        let masks = page.masks();
        let mut index = 1;
        for level in 0..4 {
            match Page::kind(index, masks) {
                Kind::Inner => {}
                // The path ends inside this page: at nothing, or at the one leaf under `index`.
                Kind::Empty => return Ok(end_at(Slot::Empty, siblings)),
                Kind::Leaf => {
                    let leaf = page
                        .slots
                        .iter()
                        .enumerate()
                        .find(|(i, slot)| span(index) & (1 << i) != 0 && **slot != Slot::Empty)
                        .map(|(_, slot)| *slot)
                        .unwrap_or_default();
                    return Ok(end_at(leaf, siblings));
                }
            }
            let right = bit(path, 4 * key.depth() + level);
            let child = 2 * index + usize::from(right);
            siblings.push(page.node_hash(child ^ 1));
            index = child;
        }
        let nibble = index - 16;
        slot = page.slots[nibble];
        key = key.child(nibble);
    }
}
