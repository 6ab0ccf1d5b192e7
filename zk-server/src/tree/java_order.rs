//! A node's children in the order Java 3.8 lists them.
//!
//! Java's `DataNode` keeps its child names in a `HashSet<String>` made with `new HashSet<>(8)` on
//! the first `addChild` and never replaced or shrunk; `getChildren` copies that set into a list
//! and a snapshot writes the children in the same iteration order. That order is a function of
//! the names and of the set's whole history of adds and removes (capacity only grows, bins keep
//! insertion order, crowded bins become red-black trees), so clients see it and a restart from a
//! snapshot, which re-adds every name to a fresh set in file order, can change it.
//!
//! [`JavaHashMap`] replays `java.util.HashMap` (as the JDK 17 that Debian's ZooKeeper runs on
//! has it; JDK 25's code is the same) operation for operation: `String.hashCode` over UTF-16 code units, the `h ^ (h >>> 16)`
//! spread, a lazily created table of `tableSizeFor(initialCapacity)` bins, load factor 0.75,
//! doubling that splits each bin into a low and a high bin keeping relative order, removal that
//! unlinks in place, and tree bins (a bin of more than 8 entries in a table of at least 64 bins;
//! smaller tables double instead) whose iteration follows the tree nodes' `next` links as
//! `putTreeVal`, `moveRootToFront`, `removeTreeNode`, `split` and `untreeify` leave them.
//! Tree bins are ordered by hash, then `String.compareTo`, which never ties for distinct names,
//! so Java's `tieBreakOrder` (identity hash codes) is never reached.
//!
//! The map is persistent: the bin heads and the entries live in persistent vectors (`pvec.rs`),
//! entries linked by index, so a clone is O(1) and a write to a shared map copies only the
//! 64-element leaves (and the branches above them) it touches.

use std::cmp::Ordering;

mod pvec;
mod tree_bin;

use pvec::PVec;
use std::sync::Arc;

/// No entry (Java's `null`).
const NIL: u32 = u32::MAX;
/// A list bin reaching this many entries plus one becomes a tree (`TREEIFY_THRESHOLD`).
const TREEIFY_THRESHOLD: usize = 8;
/// A tree split into a bin of at most this many entries becomes a list again.
const UNTREEIFY_THRESHOLD: usize = 6;
/// Below this many bins a crowded bin doubles the table instead of becoming a tree.
const MIN_TREEIFY_CAPACITY: usize = 64;
/// The largest table (`1 << 30`).
const MAXIMUM_CAPACITY: usize = 1 << 30;
/// Java's `Integer.MAX_VALUE`, the threshold of a table that cannot grow.
const NO_MORE_GROWTH: usize = i32::MAX as usize;
/// `new HashSet<String>(8)`, as `DataNode.addChild` makes it.
pub const DATA_NODE_INITIAL_CAPACITY: usize = 8;

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    if s.is_ascii() {
        return s
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)));
    }
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// HashMap's `hash()`: the high half folded into the low half.
pub fn spread(hash: i32) -> i32 {
    hash ^ ((hash as u32) >> 16) as i32
}

/// `ConcurrentHashMap.spread`: HashMap's with the sign bit cleared.
pub fn concurrent_spread(hash: i32) -> u32 {
    (spread(hash) & 0x7fff_ffff) as u32
}

/// Java's `String.compareTo`: UTF-16 code units compared as unsigned numbers, then lengths.
/// It differs from byte order only where a character at or above U+E000 meets one above
/// U+FFFF (a surrogate pair sorts first in UTF-16).
pub fn java_compare(a: &str, b: &str) -> Ordering {
    let first_difference = a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    match first_difference {
        None => a.len().cmp(&b.len()),
        Some(i) if a.as_bytes()[i] < 0x80 && b.as_bytes()[i] < 0x80 => {
            a.as_bytes()[i].cmp(&b.as_bytes()[i])
        }
        Some(_) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// Java's `HashMap.tableSizeFor`: the power of two at or above `capacity` (1 for 0).
fn table_size_for(capacity: usize) -> usize {
    capacity.max(1).next_power_of_two().min(MAXIMUM_CAPACITY)
}

/// The links a tree-bin entry has beyond `next` (Java's `TreeNode` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TreeLinks {
    parent: u32,
    left: u32,
    right: u32,
    prev: u32,
    red: bool,
}

/// One mapping (Java's `Node`, or `TreeNode` when `tree` is set).
#[derive(Debug, Clone)]
struct Entry<V> {
    /// The spread hash.
    hash: i32,
    /// The next entry of the bin in iteration order.
    next: u32,
    /// Shared, so copying a chunk of entries (a write to a map a clone shares) copies no
    /// strings.
    key: Arc<str>,
    value: V,
    tree: Option<Box<TreeLinks>>,
}

/// A place in the entry arena: used, or free and linked to the next free place.
#[derive(Debug, Clone)]
enum Slot<V> {
    Used(Entry<V>),
    Free(u32),
}

/// `java.util.HashMap<String, V>` made with a given initial capacity, iterating exactly as Java
/// does after the same puts and removes (see the module docs).
///
/// ```
/// use zk_server::tree::java_order::JavaHashMap;
///
/// let mut set = JavaHashMap::new();
/// for name in ["zookeeper", "a", "b", "locks"] {
///     set.insert(name.to_owned(), ());
/// }
/// set.remove("a");
/// // What `new HashSet<String>(8)` with the same history prints.
/// assert_eq!(set.keys().collect::<Vec<_>>(), ["b", "zookeeper", "locks"]);
/// ```
#[derive(Clone)]
pub struct JavaHashMap<V> {
    /// Nothing until the first insert (most nodes never have children), then kept even when
    /// empty: Java keeps the set, and its capacity decides the order.
    table: Option<Box<Table<V>>>,
    /// `tableSizeFor(initialCapacity)`, the first table's length.
    initial_bins: u32,
}

/// The table and the entries of a [`JavaHashMap`].
#[derive(Clone)]
struct Table<V> {
    /// The first entry of each bin (empty until the first insert's resize, as in Java).
    heads: PVec<u32>,
    /// The entries, linked into bins by index; laid out in iteration order at each resize.
    slots: PVec<Slot<V>>,
    /// The first free slot.
    free: u32,
    len: usize,
    /// Java's `threshold`: the size above which the table doubles (before the table exists,
    /// its initial length).
    threshold: usize,
}

impl<V: Clone> Default for JavaHashMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> JavaHashMap<V> {
    /// An empty map as `DataNode` makes it: `new HashSet<String>(8)`.
    pub fn new() -> Self {
        Self::with_initial_capacity(DATA_NODE_INITIAL_CAPACITY)
    }

    /// An empty map as `new HashMap<>(initial_capacity)` makes it.
    pub fn with_initial_capacity(initial_capacity: usize) -> Self {
        JavaHashMap {
            table: None,
            initial_bins: table_size_for(initial_capacity) as u32,
        }
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.len)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of bins (0 before the first insert).
    pub fn capacity(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.heads.len())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        let table = self.table.as_deref()?;
        table.find(key).map(|i| &table.entry(i).value)
    }

    /// The value of `key`, to change (copying the chunk it lives in if a clone shares it).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let table = self.table.as_deref_mut()?;
        let i = table.find(key)?;
        Some(&mut table.entry_mut(i).value)
    }

    /// Whether `key` is in the map.
    pub fn contains_key(&self, key: &str) -> bool {
        self.table.as_ref().is_some_and(|t| t.find(key).is_some())
    }

    /// Java's `put`: a new key goes where Java puts it; an existing key keeps its place and
    /// gets the new value, and the old one is returned.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        let initial_bins = self.initial_bins as usize;
        self.table
            .get_or_insert_with(|| {
                Box::new(Table {
                    heads: PVec::default(),
                    slots: PVec::default(),
                    free: NIL,
                    len: 0,
                    threshold: initial_bins,
                })
            })
            .insert(key, value)
    }

    /// Java's `remove`: unlinks `key` in place (the table never shrinks) and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.table.as_deref_mut()?.remove(key)
    }

    /// The entries in Java's iteration order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            table: self.table.as_deref(),
            heads: self.table.as_ref().map(|t| t.heads.iter()),
            next: NIL,
        }
    }

    /// The keys in Java's iteration order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, taken out of the map (in no particular order).
    pub fn into_values(self) -> impl Iterator<Item = V> {
        self.table
            .into_iter()
            .flat_map(|t| t.slots.into_vec())
            .filter_map(|slot| match slot {
                Slot::Used(e) => Some(e.value),
                Slot::Free(_) => None,
            })
    }
}

impl<V> JavaHashMap<V> {
    /// The values only this map holds, taken out (see [`PVec::into_unshared`]): for an
    /// iterative drop that frees exactly what it owns.
    pub fn into_unshared_values(self) -> impl Iterator<Item = V> {
        self.table
            .into_iter()
            .flat_map(|t| t.slots.into_unshared())
            .filter_map(|slot| match slot {
                Slot::Used(e) => Some(e.value),
                Slot::Free(_) => None,
            })
    }
}

impl<V: Clone> Table<V> {
    fn insert(&mut self, key: String, value: V) -> Option<V> {
        let hash = spread(java_string_hash(&key));
        if self.heads.is_empty() {
            self.resize();
        }
        let bin = self.bin_of(hash);
        let first = *self.heads.get(bin);
        if first == NIL {
            let i = self.alloc(hash, key, value, NIL);
            self.heads.set(bin, i);
        } else if self.is_key(first, hash, &key) {
            return Some(std::mem::replace(&mut self.entry_mut(first).value, value));
        } else if self.entry(first).tree.is_some() {
            if let Some(existing) = self.put_tree_val(first, hash, key, value) {
                return Some(existing);
            }
        } else {
            let mut p = first;
            let mut bin_count = 0;
            loop {
                let e = self.entry(p).next;
                if e == NIL {
                    let i = self.alloc(hash, key, value, NIL);
                    self.entry_mut(p).next = i;
                    if bin_count >= TREEIFY_THRESHOLD - 1 {
                        self.treeify_bin(hash);
                    }
                    break;
                }
                if self.is_key(e, hash, &key) {
                    return Some(std::mem::replace(&mut self.entry_mut(e).value, value));
                }
                p = e;
                bin_count += 1;
            }
        }
        self.len += 1;
        if self.len > self.threshold {
            self.resize();
        }
        None
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        if self.heads.is_empty() {
            return None;
        }
        let hash = spread(java_string_hash(key));
        let bin = self.bin_of(hash);
        let first = *self.heads.get(bin);
        if first == NIL {
            return None;
        }
        // The entry and, in a list bin, the entry before it.
        let (node, before) = if self.is_key(first, hash, key) {
            (first, NIL)
        } else if self.entry(first).next == NIL {
            return None;
        } else if self.entry(first).tree.is_some() {
            (self.tree_find(first, hash, key)?, NIL)
        } else {
            let mut p = first;
            loop {
                let e = self.entry(p).next;
                if e == NIL {
                    return None;
                }
                if self.is_key(e, hash, key) {
                    break (e, p);
                }
                p = e;
            }
        };
        if self.entry(node).tree.is_some() {
            self.remove_tree_node(bin, node);
        } else if node == first {
            let next = self.entry(node).next;
            self.heads.set(bin, next);
        } else {
            let next = self.entry(node).next;
            self.entry_mut(before).next = next;
        }
        self.len -= 1;
        let value = self.release(node);
        if self.len * 4 < self.slots.len() && self.slots.len() >= 64 {
            self.compact();
        }
        Some(value)
    }

    fn bin_of(&self, hash: i32) -> usize {
        hash as u32 as usize & (self.heads.len() - 1)
    }

    fn entry(&self, i: u32) -> &Entry<V> {
        match self.slots.get(i as usize) {
            Slot::Used(e) => e,
            Slot::Free(_) => unreachable!("entry {i} is linked but free"),
        }
    }

    fn entry_mut(&mut self, i: u32) -> &mut Entry<V> {
        match self.slots.get_mut(i as usize) {
            Slot::Used(e) => e,
            Slot::Free(_) => unreachable!("entry {i} is linked but free"),
        }
    }

    fn is_key(&self, i: u32, hash: i32, key: &str) -> bool {
        let e = self.entry(i);
        e.hash == hash && &*e.key == key
    }

    /// The entry of `key`, found as Java finds it: its bin, then the list or the tree.
    fn find(&self, key: &str) -> Option<u32> {
        if self.heads.is_empty() {
            return None;
        }
        let hash = spread(java_string_hash(key));
        let mut e = *self.heads.get(self.bin_of(hash));
        if e != NIL && self.entry(e).tree.is_some() {
            return self.tree_find(e, hash, key);
        }
        while e != NIL {
            if self.is_key(e, hash, key) {
                return Some(e);
            }
            e = self.entry(e).next;
        }
        None
    }

    fn alloc(&mut self, hash: i32, key: String, value: V, next: u32) -> u32 {
        let entry = Slot::Used(Entry {
            hash,
            next,
            key: key.into(),
            value,
            tree: None,
        });
        if self.free == NIL {
            let i = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer than 2^32 - 1 children");
            self.slots.push(entry);
            i
        } else {
            let i = self.free;
            match self.slots.set(i as usize, entry) {
                Slot::Free(next_free) => self.free = next_free,
                Slot::Used(_) => unreachable!("free list holds a used slot"),
            }
            i
        }
    }

    fn release(&mut self, i: u32) -> V {
        match self.slots.set(i as usize, Slot::Free(self.free)) {
            Slot::Used(e) => {
                self.free = i;
                e.value
            }
            Slot::Free(_) => unreachable!("entry {i} released twice"),
        }
    }

    /// Java's `resize`: the first table, or twice the bins with every bin split in two.
    fn resize(&mut self) {
        let old_cap = self.heads.len();
        let old_thr = self.threshold;
        let mut new_thr = 0;
        let new_cap = if old_cap > 0 {
            if old_cap >= MAXIMUM_CAPACITY {
                self.threshold = NO_MORE_GROWTH;
                return;
            }
            if old_cap << 1 < MAXIMUM_CAPACITY && old_cap >= 16 {
                new_thr = old_thr << 1;
            }
            old_cap << 1
        } else {
            old_thr
        };
        if new_thr == 0 {
            // Java computes `(float) newCap * 0.75f`, exact for powers of two.
            new_thr = if new_cap < MAXIMUM_CAPACITY {
                new_cap * 3 / 4
            } else {
                NO_MORE_GROWTH
            };
        }
        self.threshold = new_thr;
        let old = std::mem::replace(&mut self.heads, PVec::from_elem(NIL, new_cap));
        for (j, &first) in old.iter().enumerate() {
            if first == NIL {
                continue;
            }
            if self.entry(first).next == NIL {
                let bin = self.bin_of(self.entry(first).hash);
                self.heads.set(bin, first);
            } else if self.entry(first).tree.is_some() {
                self.split_tree(first, j, old_cap);
            } else {
                self.split_list(first, j, old_cap);
            }
        }
        if old_cap > 0 && std::env::var("NOCOMPACT").is_err() {
            self.compact();
        }
    }

    /// Splits a list bin between bins `j` and `j + old_cap`, keeping relative order.
    fn split_list(&mut self, first: u32, j: usize, old_cap: usize) {
        let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail) = (NIL, NIL, NIL, NIL);
        let mut e = first;
        while e != NIL {
            let next = self.entry(e).next;
            let (head, tail) = if self.entry(e).hash as u32 as usize & old_cap == 0 {
                (&mut lo_head, &mut lo_tail)
            } else {
                (&mut hi_head, &mut hi_tail)
            };
            if *tail == NIL {
                *head = e;
            } else if self.entry(*tail).next != e {
                self.entry_mut(*tail).next = e;
            }
            *tail = e;
            e = next;
        }
        for (head, tail, bin) in [(lo_head, lo_tail, j), (hi_head, hi_tail, j + old_cap)] {
            if tail != NIL {
                if self.entry(tail).next != NIL {
                    self.entry_mut(tail).next = NIL;
                }
                self.heads.set(bin, head);
            }
        }
    }

    /// Lays the entries out densely in iteration order (after a resize, or when most slots
    /// are free after removals): iterating then reads the arena front to back, and memory
    /// follows the size. The order and the bins do not change.
    fn compact(&mut self) {
        let mut new_index = vec![NIL; self.slots.len()];
        let mut order = Vec::with_capacity(self.len);
        for &first in self.heads.iter() {
            let mut e = first;
            while e != NIL {
                new_index[e as usize] = order.len() as u32;
                order.push(e);
                e = self.entry(e).next;
            }
        }
        let map = |i: u32| if i == NIL { NIL } else { new_index[i as usize] };
        let mut old = std::mem::take(&mut self.slots).into_vec();
        let mut slots = Vec::with_capacity(order.len());
        for i in order {
            let Slot::Used(mut e) = std::mem::replace(&mut old[i as usize], Slot::Free(NIL)) else {
                unreachable!("entry {i} is linked but free");
            };
            e.next = map(e.next);
            if let Some(t) = e.tree.as_deref_mut() {
                t.parent = map(t.parent);
                t.left = map(t.left);
                t.right = map(t.right);
                t.prev = map(t.prev);
            }
            slots.push(Slot::Used(e));
        }
        self.slots = PVec::from_vec(slots);
        self.heads = PVec::from_vec(self.heads.iter().map(|&head| map(head)).collect());
        self.free = NIL;
    }
}

/// Replays a script printed by `interop-tests/java/HashSetOrder.java` (`new`, `+name`,
/// `-name`, `=order`, `#` comments) on [`JavaHashMap`]s and checks every `=` line against the
/// model's order. Returns how many orders matched, or the first difference.
pub fn check_hash_set_script(script: &str) -> Result<usize, String> {
    let mut set = JavaHashMap::<()>::new();
    let mut checked = 0;
    for (number, line) in script.lines().enumerate() {
        let number = number + 1;
        if line == "new" {
            set = JavaHashMap::new();
        } else if let Some(name) = line.strip_prefix('+') {
            set.insert(name.to_owned(), ());
        } else if let Some(name) = line.strip_prefix('-') {
            set.remove(name);
        } else if let Some(order) = line.strip_prefix('=') {
            let java: Vec<&str> = order.split('/').filter(|n| !n.is_empty()).collect();
            let ours: Vec<&str> = set.keys().collect();
            if java != ours {
                return Err(format!(
                    "line {number}: Java lists {} names {java:?}, the model {} names {ours:?}",
                    java.len(),
                    ours.len()
                ));
            }
            checked += 1;
        } else if !line.starts_with('#') && !line.is_empty() {
            return Err(format!("line {number}: cannot parse {line:?}"));
        }
    }
    Ok(checked)
}

/// Iterates a [`JavaHashMap`] in Java's order: bin by bin, each bin along its `next` links.
#[allow(missing_debug_implementations)]
pub struct Iter<'a, V> {
    table: Option<&'a Table<V>>,
    heads: Option<pvec::Iter<'a, u32>>,
    next: u32,
}

impl<'a, V: Clone> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next == NIL {
            self.next = *self.heads.as_mut()?.next()?;
        }
        let e = self.table?.entry(self.next);
        self.next = e.next;
        Some((&*e.key, &e.value))
    }
}

/// Equal when the same entries come in the same order.
impl<V: Clone + PartialEq> PartialEq for JavaHashMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Clone + Eq> Eq for JavaHashMap<V> {}

/// The size and capacity, not the entries (a node can have millions).
impl<V: Clone> std::fmt::Debug for JavaHashMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JavaHashMap")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests;
