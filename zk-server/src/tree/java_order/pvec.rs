//! A persistent (structure-sharing) vector: a radix tree of 64-element leaves and branches
//! behind `Arc`s. Cloning is O(1); a write copies only the nodes on its path that a clone still
//! shares. Unlike a general-purpose persistent vector it only grows at the end, which keeps
//! it small: a short one is a single leaf sized to its contents, so the many nodes with a
//! handful of children pay little.

use std::sync::Arc;

const BITS: u32 = 6;
const WIDTH: usize = 1 << BITS;
const MASK: usize = WIDTH - 1;

#[derive(Debug, Clone)]
enum Node<T> {
    Leaf(Arc<Vec<T>>),
    Branch(Arc<Vec<Node<T>>>),
}

/// The persistent vector.
#[derive(Debug, Clone)]
pub(super) struct PVec<T> {
    root: Node<T>,
    len: usize,
    /// Branch levels above the leaves (0: the root is a leaf).
    height: u32,
}

impl<T: Clone> Default for PVec<T> {
    fn default() -> Self {
        PVec {
            root: Node::Leaf(Arc::new(Vec::new())),
            len: 0,
            height: 0,
        }
    }
}

impl<T: Clone> PVec<T> {
    /// `len` copies of `value`.
    pub(super) fn from_elem(value: T, len: usize) -> Self {
        Self::from_vec(vec![value; len])
    }

    /// The elements of `items`, built bottom up (no per-element path copying).
    pub(super) fn from_vec(items: Vec<T>) -> Self {
        let len = items.len();
        if len <= WIDTH {
            return PVec {
                root: Node::Leaf(Arc::new(items)),
                len,
                height: 0,
            };
        }
        let mut items = items.into_iter();
        let mut level: Vec<Node<T>> = Vec::with_capacity(len.div_ceil(WIDTH));
        loop {
            let leaf: Vec<T> = items.by_ref().take(WIDTH).collect();
            if leaf.is_empty() {
                break;
            }
            level.push(Node::Leaf(Arc::new(leaf)));
        }
        let mut height = 0;
        while level.len() > 1 {
            let mut nodes = level.into_iter();
            let mut above = Vec::new();
            loop {
                let branch: Vec<Node<T>> = nodes.by_ref().take(WIDTH).collect();
                if branch.is_empty() {
                    break;
                }
                above.push(Node::Branch(Arc::new(branch)));
            }
            level = above;
            height += 1;
        }
        PVec {
            root: level.pop().expect("at least one leaf"),
            len,
            height,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element at `i`; panics past the end, like a slice.
    pub(super) fn get(&self, i: usize) -> &T {
        &self.leaf(i >> BITS)[i & MASK]
    }

    /// The element at `i`, to change: shared nodes on the way are copied first.
    pub(super) fn get_mut(&mut self, i: usize) -> &mut T {
        assert!(i < self.len, "index {i} past the end ({})", self.len);
        let mut node = &mut self.root;
        let mut shift = BITS * self.height;
        loop {
            match node {
                Node::Leaf(leaf) => return &mut Arc::make_mut(leaf)[i & MASK],
                Node::Branch(children) => {
                    node = &mut Arc::make_mut(children)[(i >> shift) & MASK];
                    shift -= BITS;
                }
            }
        }
    }

    /// Replaces the element at `i`, returning the old one.
    pub(super) fn set(&mut self, i: usize, value: T) -> T {
        std::mem::replace(self.get_mut(i), value)
    }

    /// Appends `value`.
    pub(super) fn push(&mut self, value: T) {
        if self.len == WIDTH << (BITS * self.height) {
            let old = std::mem::replace(&mut self.root, Node::Leaf(Arc::new(Vec::new())));
            self.root = Node::Branch(Arc::new(vec![old]));
            self.height += 1;
        }
        let i = self.len;
        let mut node = &mut self.root;
        let mut level = self.height;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    Arc::make_mut(leaf).push(value);
                    break;
                }
                Node::Branch(children) => {
                    let children = Arc::make_mut(children);
                    let digit = (i >> (BITS * level)) & MASK;
                    if digit == children.len() {
                        children.push(if level == 1 {
                            Node::Leaf(Arc::new(Vec::new()))
                        } else {
                            Node::Branch(Arc::new(Vec::new()))
                        });
                    }
                    node = &mut children[digit];
                    level -= 1;
                }
            }
        }
        self.len += 1;
    }

    /// Leaf number `k` (elements `64k..64k+64`).
    fn leaf(&self, k: usize) -> &[T] {
        assert!(k << BITS < self.len, "leaf {k} past the end ({})", self.len);
        let mut node = &self.root;
        let mut shift = BITS * self.height;
        loop {
            match node {
                Node::Leaf(leaf) => return leaf,
                Node::Branch(children) => {
                    shift -= BITS;
                    node = &children[(k >> shift) & MASK];
                }
            }
        }
    }

    /// The elements in order.
    pub(super) fn iter(&self) -> Iter<'_, T> {
        Iter {
            vec: self,
            leaf: [].iter(),
            next_leaf: 0,
        }
    }

    /// The elements, taken out (copied where a clone still shares them).
    pub(super) fn into_vec(self) -> Vec<T> {
        fn drain<T: Clone>(node: Node<T>, out: &mut Vec<T>) {
            match node {
                Node::Leaf(leaf) => {
                    out.extend(Arc::try_unwrap(leaf).unwrap_or_else(|shared| (*shared).clone()))
                }
                Node::Branch(children) => {
                    let children =
                        Arc::try_unwrap(children).unwrap_or_else(|shared| (*shared).clone());
                    for child in children {
                        drain(child, out);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(self.len);
        drain(self.root, &mut out);
        out
    }
}

impl<T> PVec<T> {
    /// The elements no clone shares, taken out; the shared parts are only released (another
    /// vector still holds them). Dropping a tree node this way visits what the drop frees,
    /// not every child of a version that other versions share.
    pub(super) fn into_unshared(self) -> Vec<T> {
        fn drain<T>(node: Node<T>, out: &mut Vec<T>) {
            match node {
                Node::Leaf(leaf) => {
                    if let Ok(leaf) = Arc::try_unwrap(leaf) {
                        out.extend(leaf);
                    }
                }
                Node::Branch(children) => {
                    if let Ok(children) = Arc::try_unwrap(children) {
                        for child in children {
                            drain(child, out);
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        drain(self.root, &mut out);
        out
    }
}

/// Iterates a [`PVec`] leaf by leaf.
#[derive(Debug)]
pub(super) struct Iter<'a, T> {
    vec: &'a PVec<T>,
    leaf: std::slice::Iter<'a, T>,
    next_leaf: usize,
}

impl<'a, T: Clone> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(x) = self.leaf.next() {
                return Some(x);
            }
            if self.next_leaf << BITS >= self.vec.len {
                return None;
            }
            self.leaf = self.vec.leaf(self.next_leaf).iter();
            self.next_leaf += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Pushes, sets and clones behave as a `Vec` and its copies do, at every height.
        #[test]
        fn behaves_like_a_vec(
            len in 0usize..10_000,
            sets in proptest::collection::vec((0usize..10_000, 0u32..100), 0..50),
        ) {
            let mut v = PVec::default();
            let mut reference = Vec::new();
            for i in 0..len {
                v.push(i as u32);
                reference.push(i as u32);
            }
            let image = v.clone();
            let image_reference = reference.clone();
            for (i, value) in sets {
                if i < len {
                    proptest::prop_assert_eq!(v.set(i, value), reference[i]);
                    reference[i] = value;
                }
            }
            v.push(7);
            reference.push(7);
            proptest::prop_assert_eq!(v.len(), reference.len());
            proptest::prop_assert!(v.iter().eq(reference.iter()));
            proptest::prop_assert!((0..reference.len()).all(|i| *v.get(i) == reference[i]));
            proptest::prop_assert!(image.iter().eq(image_reference.iter()));
            proptest::prop_assert_eq!(image.into_vec(), image_reference);
            proptest::prop_assert_eq!(v.into_vec(), reference);
        }
    }

    #[test]
    fn builds_from_a_vec_at_every_size() {
        for len in [0, 1, 63, 64, 65, 4095, 4096, 4097, 64 * 4096 + 3] {
            let items: Vec<usize> = (0..len).collect();
            let mut v = PVec::from_vec(items.clone());
            assert_eq!(v.len(), len);
            assert!(v.iter().eq(items.iter()), "{len}");
            v.push(len);
            assert_eq!(*v.get(len), len);
            if len > 0 {
                assert_eq!(*v.get(len - 1), len - 1);
            }
        }
    }

    #[test]
    fn grows_past_several_levels() {
        let v = PVec::from_elem(3u8, WIDTH * WIDTH * 2 + 5);
        assert_eq!(v.height, 2);
        assert_eq!(v.iter().count(), WIDTH * WIDTH * 2 + 5);
        assert!(v.iter().all(|&x| x == 3));
        assert!(PVec::<u8>::default().is_empty());
    }
}
