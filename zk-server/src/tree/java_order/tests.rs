use super::*;
use std::collections::BTreeMap;

/// What `java.util.HashSet` printed for the same history (interop-tests/java/HashSetOrder.java
/// 1 8): random names with characters above U+FFFF, families of equal hash codes, and names of
/// different hash codes crowding one bin, added and removed through every resize, treeify,
/// split and untreeify path.
const JAVA_ORDERS: &str = include_str!("../../../tests/fixtures/java_hashset_order.txt");

#[test]
fn orders_match_java_hash_set() {
    let checked = check_hash_set_script(JAVA_ORDERS).unwrap();
    assert!(checked > 150, "only {checked} orders in the fixture");
}

#[test]
fn hashes_and_comparisons_are_javas() {
    // Values printed by Java's String.hashCode.
    for (name, java) in [
        ("", 0),
        ("Aa", 2112),
        ("BB", 2112),
        ("zookeeper", 1600681804),
        ("config", -1354792126),
        ("\u{1F600}", 1772899),
        ("\u{e9}t\u{e9}", 227742),
        ("\u{FF21}", 65313),
        ("lock-0000000001", -864326685),
    ] {
        assert_eq!(java_string_hash(name), java, "{name:?}");
    }
    assert_eq!(spread(0x1234_5678), 0x1234_5678 ^ 0x1234);
    assert_eq!(spread(-1), -65536);
    // U+FF21 is one unit 0xFF21; U+1F600 starts with the surrogate 0xD83D, so Java puts it
    // first although its UTF-8 bytes sort after.
    assert_eq!(java_compare("\u{FF21}", "\u{1F600}"), Ordering::Greater);
    assert_eq!(java_compare("ab", "abc"), Ordering::Less);
    assert_eq!(java_compare("b", "abc"), Ordering::Greater);
    assert_eq!(java_compare("x\u{e9}", "x\u{e9}"), Ordering::Equal);
}

#[test]
fn the_zookeeper_node_lists_config_before_quota() {
    // `new HashSet<>(8)` after add("quota"), add("config") prints [config, quota].
    let mut set = JavaHashMap::new();
    set.insert("quota".to_owned(), ());
    set.insert("config".to_owned(), ());
    assert_eq!(set.keys().collect::<Vec<_>>(), ["config", "quota"]);
}

/// Checks the links: every used slot is reached once from the bins, each in its own bin; tree
/// bins are red-black trees ordered by (hash, compareTo) with the root first and `prev`
/// mirroring `next`.
fn check_invariants<V: Clone>(map: &JavaHashMap<V>) {
    let Some(table) = map.table.as_deref() else {
        assert_eq!(map.len(), 0);
        return;
    };
    let mut seen = 0;
    for (bin, &first) in table.heads.iter().enumerate() {
        let mut e = first;
        let mut prev = NIL;
        let tree = first != NIL && table.entry(first).tree.is_some();
        if tree {
            assert_eq!(table.parent(first), NIL, "bin {bin}: the root comes first");
        }
        while e != NIL {
            seen += 1;
            assert_eq!(table.bin_of(table.entry(e).hash), bin);
            assert_eq!(
                table.entry(e).tree.is_some(),
                tree,
                "bin {bin} mixes node kinds"
            );
            if tree {
                assert_eq!(table.links(e).prev, prev);
                assert_eq!(table.root_of(e), first);
            }
            prev = e;
            e = table.entry(e).next;
        }
        if tree {
            black_height(table, first);
        }
    }
    assert_eq!(seen, map.len());
    let used = table
        .slots
        .iter()
        .filter(|s| matches!(s, Slot::Used(_)))
        .count();
    assert_eq!(used, map.len(), "no slot leaks");
}

/// The black height of a subtree, checking order and colours on the way.
fn black_height<V: Clone>(map: &Table<V>, i: u32) -> usize {
    if i == NIL {
        return 1;
    }
    let key = |i: u32| (map.entry(i).hash, map.entry(i).key.to_string());
    let before = |a: (i32, String), b: (i32, String)| {
        a.0 < b.0 || (a.0 == b.0 && java_compare(&a.1, &b.1) == Ordering::Less)
    };
    for (child, left) in [(map.left(i), true), (map.right(i), false)] {
        if child != NIL {
            assert_eq!(map.parent(child), i);
            assert!(!(map.red(i) && map.red(child)), "red child of a red node");
            if left {
                assert!(before(key(child), key(i)));
            } else {
                assert!(before(key(i), key(child)));
            }
        }
    }
    let (l, r) = (
        black_height(map, map.left(i)),
        black_height(map, map.right(i)),
    );
    assert_eq!(l, r, "unequal black heights");
    l + usize::from(!map.red(i))
}

/// Names whose hashes are all equal: strings of `blocks` "Aa"/"BB" blocks.
fn colliding(prefix: &str, blocks: u32, count: usize) -> Vec<String> {
    (0..count.min(1 << blocks))
        .map(|bits| {
            let mut name = prefix.to_owned();
            for b in 0..blocks {
                name.push_str(if bits >> b & 1 == 0 { "Aa" } else { "BB" });
            }
            name
        })
        .collect()
}

#[test]
fn tree_bins_keep_their_invariants_and_find_every_name() {
    let mut map = JavaHashMap::new();
    let mut names = colliding("", 7, 128);
    names.extend(colliding("p", 6, 64));
    names.extend((0..100).map(|i| format!("n{i}")));
    for (i, name) in names.iter().enumerate() {
        map.insert(name.clone(), i);
        check_invariants(&map);
    }
    assert!(map.capacity() >= MIN_TREEIFY_CAPACITY);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(map.get(name), Some(&i), "{name}");
    }
    // Remove every other, then all: trees shrink, untreeify, empty.
    for name in names.iter().step_by(2) {
        assert!(map.remove(name).is_some());
        check_invariants(&map);
    }
    for name in names.iter().skip(1).step_by(2) {
        assert!(map.get(name).is_some());
        assert!(map.remove(name).is_some());
        check_invariants(&map);
    }
    assert!(map.is_empty());
    assert!(map.capacity() >= 512, "Java never shrinks the table");
}

#[test]
fn a_clone_is_unaffected_by_later_writes() {
    let mut map = JavaHashMap::new();
    for i in 0..1000 {
        map.insert(format!("c{i}"), i);
    }
    let image = map.clone();
    let before: Vec<(String, i32)> = image.iter().map(|(k, v)| (k.to_owned(), *v)).collect();
    for i in 0..500 {
        map.remove(&format!("c{i}"));
        map.insert(format!("d{i}"), i);
    }
    *map.get_mut("c999").unwrap() = -1;
    let after: Vec<(String, i32)> = image.iter().map(|(k, v)| (k.to_owned(), *v)).collect();
    assert_eq!(before, after);
    assert_eq!(image.get("c999"), Some(&999));
    check_invariants(&map);
    check_invariants(&image);
}

#[test]
fn an_existing_key_keeps_its_place_and_gets_the_new_value() {
    let mut map = JavaHashMap::new();
    for name in colliding("", 5, 32) {
        map.insert(name, 0);
    }
    let order: Vec<String> = map.keys().map(str::to_owned).collect();
    for (i, name) in order.iter().enumerate() {
        assert_eq!(map.insert(name.clone(), i + 1), Some(0));
    }
    assert_eq!(map.keys().map(str::to_owned).collect::<Vec<_>>(), order);
    assert_eq!(map.len(), 32);
    assert!(map.iter().enumerate().all(|(i, (_, &v))| v == i + 1));
}

proptest::proptest! {
    /// Any mix of inserts and removes (colliding names included) leaves a consistent map that
    /// holds exactly what a BTreeMap holds.
    #[test]
    fn random_operations_match_a_reference_map(
        ops in proptest::collection::vec((proptest::bool::weighted(0.6), 0usize..300), 1..600)
    ) {
        let mut names = colliding("", 6, 64);
        names.extend(colliding("q", 5, 32));
        names.extend((0..204).map(|i| format!("{i}\u{1F600}{}", i % 7)));
        let mut map = JavaHashMap::new();
        let mut reference = BTreeMap::new();
        for (i, (insert, name)) in ops.iter().enumerate() {
            let name = &names[*name];
            if *insert {
                proptest::prop_assert_eq!(
                    map.insert(name.clone(), i),
                    reference.insert(name.clone(), i)
                );
            } else {
                proptest::prop_assert_eq!(map.remove(name), reference.remove(name));
            }
        }
        check_invariants(&map);
        proptest::prop_assert_eq!(map.len(), reference.len());
        let mut listed: Vec<(String, usize)> = map.iter().map(|(k, v)| (k.to_owned(), *v)).collect();
        listed.sort();
        proptest::prop_assert_eq!(listed, reference.into_iter().collect::<Vec<_>>());
    }
}
