//! Tree bins: a crowded bin of a large table becomes a red-black tree ordered by (hash,
//! `String.compareTo`), as `java.util.HashMap.TreeNode` does. Lookups descend the tree; the
//! iteration order is the entries' `next` chain, which these operations edit exactly as Java's
//! do: a new node is linked right after its tree parent, the root is moved to the front after
//! every insert or removal, a split relinks in order and rebuilds (or untreeifies) both halves.

use std::cmp::Ordering;

use super::{java_compare, Table, TreeLinks, MIN_TREEIFY_CAPACITY, NIL, UNTREEIFY_THRESHOLD};

/// A side of a tree node: Java's code has a mirrored copy of each balancing step, this one
/// a step per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Where a key is, or would go, in a tree.
enum Descent {
    Found(u32),
    /// Below `parent`, on its left side or its right side.
    Attach {
        parent: u32,
        left: bool,
    },
}

impl<V: Clone> Table<V> {
    pub(super) fn links(&self, i: u32) -> &TreeLinks {
        self.entry(i)
            .tree
            .as_deref()
            .expect("an entry of a tree bin has tree links")
    }

    fn links_mut(&mut self, i: u32) -> &mut TreeLinks {
        self.entry_mut(i)
            .tree
            .as_deref_mut()
            .expect("an entry of a tree bin has tree links")
    }

    pub(super) fn parent(&self, i: u32) -> u32 {
        self.links(i).parent
    }

    pub(super) fn left(&self, i: u32) -> u32 {
        self.links(i).left
    }

    pub(super) fn right(&self, i: u32) -> u32 {
        self.links(i).right
    }

    /// Whether `i` is a red node (`NIL`, Java's null, counts as black as Java's checks do).
    pub(super) fn red(&self, i: u32) -> bool {
        i != NIL && self.links(i).red
    }

    fn set_parent(&mut self, i: u32, parent: u32) {
        self.links_mut(i).parent = parent;
    }

    fn set_left(&mut self, i: u32, left: u32) {
        self.links_mut(i).left = left;
    }

    fn set_right(&mut self, i: u32, right: u32) {
        self.links_mut(i).right = right;
    }

    fn set_red(&mut self, i: u32, red: bool) {
        self.links_mut(i).red = red;
    }

    /// The tree's root, found from any of its nodes (`TreeNode.root`).
    pub(super) fn root_of(&self, mut i: u32) -> u32 {
        loop {
            let parent = self.parent(i);
            if parent == NIL {
                return i;
            }
            i = parent;
        }
    }

    /// Walks down from `root` by hash (signed), then `String.compareTo`.
    fn descend(&self, root: u32, hash: i32, key: &str) -> Descent {
        let mut p = root;
        loop {
            let e = self.entry(p);
            let dir = match e.hash.cmp(&hash) {
                Ordering::Greater => Ordering::Less,
                Ordering::Less => Ordering::Greater,
                Ordering::Equal if &*e.key == key => return Descent::Found(p),
                Ordering::Equal => java_compare(key, &e.key),
            };
            let left = dir != Ordering::Greater;
            let child = if left { self.left(p) } else { self.right(p) };
            if child == NIL {
                return Descent::Attach { parent: p, left };
            }
            p = child;
        }
    }

    /// The entry of `key` in the tree bin headed by `first`.
    pub(super) fn tree_find(&self, first: u32, hash: i32, key: &str) -> Option<u32> {
        match self.descend(self.root_of(first), hash, key) {
            Descent::Found(i) => Some(i),
            Descent::Attach { .. } => None,
        }
    }

    /// `putTreeVal`: links a new entry after its tree parent in the `next` chain, rebalances
    /// and moves the root to the front. An existing key gets `value`; the old one is returned.
    pub(super) fn put_tree_val(
        &mut self,
        first: u32,
        hash: i32,
        key: String,
        value: V,
    ) -> Option<V> {
        let root = self.root_of(first);
        let (parent, left) = match self.descend(root, hash, &key) {
            Descent::Found(i) => {
                return Some(std::mem::replace(&mut self.entry_mut(i).value, value));
            }
            Descent::Attach { parent, left } => (parent, left),
        };
        let parent_next = self.entry(parent).next;
        let x = self.alloc(hash, key, value, parent_next);
        self.entry_mut(x).tree = Some(Box::new(TreeLinks {
            parent,
            left: NIL,
            right: NIL,
            prev: parent,
            red: false,
        }));
        if left {
            self.set_left(parent, x);
        } else {
            self.set_right(parent, x);
        }
        self.entry_mut(parent).next = x;
        if parent_next != NIL {
            self.links_mut(parent_next).prev = x;
        }
        let root = self.balance_insertion(root, x);
        self.move_root_to_front(root);
        None
    }

    /// `treeifyBin`: a small table doubles instead; otherwise the bin's list becomes a tree.
    pub(super) fn treeify_bin(&mut self, hash: i32) {
        if self.heads.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
            return;
        }
        let head = *self.heads.get(self.bin_of(hash));
        let mut prev = NIL;
        let mut e = head;
        while e != NIL {
            self.entry_mut(e).tree = Some(Box::new(TreeLinks {
                parent: NIL,
                left: NIL,
                right: NIL,
                prev,
                red: false,
            }));
            prev = e;
            e = self.entry(e).next;
        }
        if head != NIL {
            self.treeify(head);
        }
    }

    /// `treeify`: inserts the chain's entries into a new tree in chain order, then moves the
    /// root to the front of its bin.
    fn treeify(&mut self, head: u32) {
        let mut root = NIL;
        let mut x = head;
        while x != NIL {
            let next = self.entry(x).next;
            self.set_left(x, NIL);
            self.set_right(x, NIL);
            if root == NIL {
                self.set_parent(x, NIL);
                self.set_red(x, false);
                root = x;
            } else {
                let e = self.entry(x);
                match self.descend(root, e.hash, &e.key) {
                    Descent::Attach { parent, left } => {
                        self.set_parent(x, parent);
                        if left {
                            self.set_left(parent, x);
                        } else {
                            self.set_right(parent, x);
                        }
                        root = self.balance_insertion(root, x);
                    }
                    Descent::Found(_) => unreachable!("a bin holds each key once"),
                }
            }
            x = next;
        }
        self.move_root_to_front(root);
    }

    /// `untreeify`: the chain from `head` as plain entries, same order.
    fn untreeify(&mut self, head: u32) -> u32 {
        let mut e = head;
        while e != NIL {
            self.entry_mut(e).tree = None;
            e = self.entry(e).next;
        }
        head
    }

    /// `TreeNode.split` during a resize: relinks the chain into the low bin `index` and the high
    /// bin `index + bit` in order; a half of at most 6 entries becomes a list, a half that got
    /// everything stays the same tree, any other half becomes a new tree.
    pub(super) fn split_tree(&mut self, first: u32, index: usize, bit: usize) {
        let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail) = (NIL, NIL, NIL, NIL);
        let (mut lo_count, mut hi_count) = (0, 0);
        let mut e = first;
        while e != NIL {
            let next = self.entry(e).next;
            self.entry_mut(e).next = NIL;
            let (head, tail, count) = if self.entry(e).hash as u32 as usize & bit == 0 {
                (&mut lo_head, &mut lo_tail, &mut lo_count)
            } else {
                (&mut hi_head, &mut hi_tail, &mut hi_count)
            };
            self.links_mut(e).prev = *tail;
            if *tail == NIL {
                *head = e;
            } else {
                self.entry_mut(*tail).next = e;
            }
            *tail = e;
            *count += 1;
            e = next;
        }
        for (head, count, bin, other) in [
            (lo_head, lo_count, index, hi_head),
            (hi_head, hi_count, index + bit, lo_head),
        ] {
            if head == NIL {
                continue;
            }
            if count <= UNTREEIFY_THRESHOLD {
                let list = self.untreeify(head);
                self.heads.set(bin, list);
            } else {
                self.heads.set(bin, head);
                if other != NIL {
                    self.treeify(head);
                }
            }
        }
    }

    /// `moveRootToFront`: makes `root` the first entry of its bin's chain.
    fn move_root_to_front(&mut self, root: u32) {
        if root == NIL || self.heads.is_empty() {
            return;
        }
        let index = self.bin_of(self.entry(root).hash);
        let first = *self.heads.get(index);
        if root == first {
            return;
        }
        self.heads.set(index, root);
        let root_prev = self.links(root).prev;
        let root_next = self.entry(root).next;
        if root_next != NIL {
            self.links_mut(root_next).prev = root_prev;
        }
        if root_prev != NIL {
            self.entry_mut(root_prev).next = root_next;
        }
        if first != NIL {
            self.links_mut(first).prev = root;
        }
        self.entry_mut(root).next = first;
        self.links_mut(root).prev = NIL;
    }

    /// `removeTreeNode` (movable): unlinks `p` from the chain; a tree too small by its shape
    /// becomes a list, otherwise `p` leaves the tree and the root moves to the front. The caller
    /// frees `p`'s slot.
    pub(super) fn remove_tree_node(&mut self, index: usize, p: u32) {
        let mut first = *self.heads.get(index);
        let mut root = first;
        let succ = self.entry(p).next;
        let pred = self.links(p).prev;
        if pred == NIL {
            self.heads.set(index, succ);
            first = succ;
        } else {
            self.entry_mut(pred).next = succ;
        }
        if succ != NIL {
            self.links_mut(succ).prev = pred;
        }
        if first == NIL {
            return;
        }
        if self.parent(root) != NIL {
            root = self.root_of(root);
        }
        let root_left = self.left(root);
        if self.right(root) == NIL || root_left == NIL || self.left(root_left) == NIL {
            let list = self.untreeify(first);
            self.heads.set(index, list);
            return;
        }
        let (pl, pr) = (self.left(p), self.right(p));
        let replacement = if pl != NIL && pr != NIL {
            // Swap p with its successor s (the leftmost node of its right subtree), colours
            // included, then remove p from s's old place.
            let mut s = pr;
            while self.left(s) != NIL {
                s = self.left(s);
            }
            let (s_red, p_red) = (self.red(s), self.red(p));
            self.set_red(s, p_red);
            self.set_red(p, s_red);
            let sr = self.right(s);
            let pp = self.parent(p);
            if s == pr {
                self.set_parent(p, s);
                self.set_right(s, p);
            } else {
                let sp = self.parent(s);
                self.set_parent(p, sp);
                if sp != NIL {
                    self.replace_child(sp, s, p);
                }
                self.set_right(s, pr);
                self.set_parent(pr, s);
            }
            self.set_left(p, NIL);
            self.set_right(p, sr);
            if sr != NIL {
                self.set_parent(sr, p);
            }
            self.set_left(s, pl);
            self.set_parent(pl, s);
            self.set_parent(s, pp);
            if pp == NIL {
                root = s;
            } else {
                self.replace_child(pp, p, s);
            }
            if sr != NIL {
                sr
            } else {
                p
            }
        } else if pl != NIL {
            pl
        } else if pr != NIL {
            pr
        } else {
            p
        };
        if replacement != p {
            root = self.take_place(root, p, replacement);
            self.set_left(p, NIL);
            self.set_right(p, NIL);
            self.set_parent(p, NIL);
        }
        let root = if self.red(p) {
            root
        } else {
            self.balance_deletion(root, replacement)
        };
        if replacement == p {
            let pp = self.parent(p);
            self.set_parent(p, NIL);
            if pp != NIL {
                if p == self.left(pp) {
                    self.set_left(pp, NIL);
                } else if p == self.right(pp) {
                    self.set_right(pp, NIL);
                }
            }
        }
        self.move_root_to_front(root);
    }

    /// The child of `i` on `side`.
    fn child(&self, i: u32, side: Side) -> u32 {
        match side {
            Side::Left => self.left(i),
            Side::Right => self.right(i),
        }
    }

    fn set_child(&mut self, i: u32, side: Side, child: u32) {
        match side {
            Side::Left => self.set_left(i, child),
            Side::Right => self.set_right(i, child),
        }
    }

    /// Makes `new` the child of `parent` where `old` was.
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if self.left(parent) == old {
            self.set_left(parent, new);
        } else {
            self.set_right(parent, new);
        }
    }

    /// Hangs `new` where `old` hangs: under `old`'s parent, or as the root, which is black.
    /// Returns the root.
    fn take_place(&mut self, root: u32, old: u32, new: u32) -> u32 {
        let parent = self.parent(old);
        self.set_parent(new, parent);
        if parent == NIL {
            self.set_red(new, false);
            new
        } else {
            self.replace_child(parent, old, new);
            root
        }
    }

    /// `rotateLeft` (towards `Side::Left`: `p`'s right child takes its place) or `rotateRight`;
    /// returns the root.
    fn rotate(&mut self, mut root: u32, p: u32, towards: Side) -> u32 {
        let away = towards.other();
        if p == NIL || self.child(p, away) == NIL {
            return root;
        }
        let r = self.child(p, away);
        let inner = self.child(r, towards);
        self.set_child(p, away, inner);
        if inner != NIL {
            self.set_parent(inner, p);
        }
        root = self.take_place(root, p, r);
        self.set_child(r, towards, p);
        self.set_parent(p, r);
        root
    }

    /// Red-black fix-up after inserting `x`; returns the root.
    fn balance_insertion(&mut self, mut root: u32, mut x: u32) -> u32 {
        self.set_red(x, true);
        loop {
            let mut xp = self.parent(x);
            if xp == NIL {
                self.set_red(x, false);
                return x;
            }
            if !self.red(xp) {
                return root;
            }
            let mut xpp = self.parent(xp);
            if xpp == NIL {
                return root;
            }
            // The side of its parent the parent is on; the uncle is on the other.
            let side = if xp == self.left(xpp) {
                Side::Left
            } else {
                Side::Right
            };
            let uncle = self.child(xpp, side.other());
            if self.red(uncle) {
                self.set_red(uncle, false);
                self.set_red(xp, false);
                self.set_red(xpp, true);
                x = xpp;
                continue;
            }
            if x == self.child(xp, side.other()) {
                x = xp;
                root = self.rotate(root, x, side);
                xp = self.parent(x);
                xpp = if xp == NIL { NIL } else { self.parent(xp) };
            }
            if xp != NIL {
                self.set_red(xp, false);
                if xpp != NIL {
                    self.set_red(xpp, true);
                    root = self.rotate(root, xpp, side.other());
                }
            }
        }
    }

    /// Red-black fix-up after removing a black node replaced by `x`; returns the root.
    fn balance_deletion(&mut self, mut root: u32, mut x: u32) -> u32 {
        loop {
            if x == NIL || x == root {
                return root;
            }
            let mut xp = self.parent(x);
            if xp == NIL {
                self.set_red(x, false);
                return x;
            }
            if self.red(x) {
                self.set_red(x, false);
                return root;
            }
            // The side x is on; its sibling is on the other.
            let side = if self.left(xp) == x {
                Side::Left
            } else {
                Side::Right
            };
            let away = side.other();
            let mut sibling = self.child(xp, away);
            if self.red(sibling) {
                self.set_red(sibling, false);
                self.set_red(xp, true);
                root = self.rotate(root, xp, side);
                xp = self.parent(x);
                sibling = if xp == NIL { NIL } else { self.child(xp, away) };
            }
            if sibling == NIL {
                x = xp;
                continue;
            }
            let (near, far) = (self.child(sibling, side), self.child(sibling, away));
            if !self.red(far) && !self.red(near) {
                self.set_red(sibling, true);
                x = xp;
                continue;
            }
            if !self.red(far) {
                if near != NIL {
                    self.set_red(near, false);
                }
                self.set_red(sibling, true);
                root = self.rotate(root, sibling, away);
                xp = self.parent(x);
                sibling = if xp == NIL { NIL } else { self.child(xp, away) };
            }
            if sibling != NIL {
                let red = xp != NIL && self.red(xp);
                self.set_red(sibling, red);
                let far = self.child(sibling, away);
                if far != NIL {
                    self.set_red(far, false);
                }
            }
            if xp != NIL {
                self.set_red(xp, false);
                root = self.rotate(root, xp, side);
            }
            x = root;
        }
    }
}
