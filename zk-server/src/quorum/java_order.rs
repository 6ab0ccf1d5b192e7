//! The iteration orders of Java's hash maps, because Java writes config files and the
//! `/zookeeper/config` text in those orders and we must write the same bytes.
//!
//! * `java.util.Properties` (Java 9+) keeps its entries in a `ConcurrentHashMap<String, _>`
//!   (16 bins at first); `QuorumPeerConfig.editStaticConfig` rewrites zoo.cfg in that order.
//! * `QuorumMaj` keeps members in a `HashMap<Long, QuorumServer>`; its `toString()` (the
//!   `/zookeeper/config` text) lists them in that order, members put in the order the
//!   `Properties` handed out their `server.N` keys.
//!
//! Both are simulated bin by bin, resizes included. Not simulated: treeified bins (8 or more
//! keys in one bin), which zoo.cfg-sized maps do not reach.

use crate::tree::java_order::{concurrent_spread as chm_spread, java_string_hash, spread};

/// `HashMap.hash`.
fn hash_map_hash(h: i32) -> u32 {
    spread(h) as u32
}

/// Entries as `Properties.load` then `entrySet()` iteration hand them out: `entries` in file
/// order; a repeated key keeps its first place and takes its last value.
pub fn properties_order(entries: Vec<(String, String)>) -> Vec<(String, String)> {
    // A bin holds (spread hash, index into `values`).
    let mut table: Vec<Vec<(u32, usize)>> = vec![Vec::new(); 16];
    let mut values: Vec<(String, String)> = Vec::new();
    for (key, value) in entries {
        let hash = chm_spread(java_string_hash(&key));
        let n = table.len();
        let bin = &mut table[hash as usize & (n - 1)];
        if let Some(&(_, i)) = bin.iter().find(|(_, i)| values[*i].0 == key) {
            values[i].1 = value;
            continue;
        }
        bin.push((hash, values.len()));
        values.push((key, value));
        // addCount: resize while the count reached sizeCtl (3/4 of the table).
        while values.len() >= table.len() - table.len() / 4 {
            table = chm_transfer(&table);
        }
    }
    let order: Vec<usize> = table.iter().flatten().map(|&(_, i)| i).collect();
    let mut slots: Vec<Option<(String, String)>> = values.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// `ConcurrentHashMap.transfer` to a table twice as large: each bin splits into a low and a
/// high bin; the tail run whose nodes all go the same way is moved as is, and the nodes before
/// it are pushed on the front of their new bin one by one (so they come out reversed).
fn chm_transfer(table: &[Vec<(u32, usize)>]) -> Vec<Vec<(u32, usize)>> {
    let n = table.len();
    let mut next = vec![Vec::new(); 2 * n];
    for (i, bin) in table.iter().enumerate() {
        if bin.is_empty() {
            continue;
        }
        let high = |&(h, _): &(u32, usize)| h as usize & n != 0;
        let mut last_run = 0;
        for j in 1..bin.len() {
            if high(&bin[j]) != high(&bin[j - 1]) {
                last_run = j;
            }
        }
        let (mut low, mut hi): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
        if high(&bin[last_run]) {
            hi.extend_from_slice(&bin[last_run..]);
        } else {
            low.extend_from_slice(&bin[last_run..]);
        }
        for node in &bin[..last_run] {
            if high(node) {
                hi.insert(0, *node);
            } else {
                low.insert(0, *node);
            }
        }
        next[i] = low;
        next[i + n] = hi;
    }
    next
}

/// The iteration order of a `HashMap<Long, _>` into which `ids` were put in this order
/// (a repeated id keeps its first place). Resizes keep the relative order within a bin, so
/// the order is by bin of the final table, then by insertion.
pub fn hash_map_long_order(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut distinct: Vec<i64> = Vec::new();
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    // Resized (doubled) whenever the size passes 3/4 of the capacity.
    let mut capacity = 16usize;
    while distinct.len() > capacity - capacity / 4 {
        capacity *= 2;
    }
    let bin = |id: i64| {
        let h = (id ^ ((id as u64) >> 32) as i64) as i32;
        hash_map_hash(h) as usize & (capacity - 1)
    };
    let mut ordered: Vec<(usize, usize, i64)> = distinct
        .iter()
        .enumerate()
        .map(|(pos, &id)| (bin(id), pos, id))
        .collect();
    ordered.sort_unstable();
    ordered.into_iter().map(|(_, _, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn string_hashes_match_java() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("tickTime"), 1_936_851_466);
        assert_eq!(java_string_hash("é€"), 15_587);
        assert_eq!(java_string_hash("hello world"), 1_794_106_052);
    }

    /// Java 3.8 rewrote a zoo.cfg with these 11 keys (file order) as the order below
    /// (observed: QuorumPeerConfig.editStaticConfig after the first election with
    /// reconfigEnabled=true; server lines dropped).
    #[test]
    fn properties_order_as_java_rewrote_a_small_zoo_cfg() {
        let file = "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nclientPort=1\nreconfigEnabled=true\n4lw.commands.whitelist=*\nadmin.enableServer=false\nserver.1=a\nserver.2=b\nserver.3=c";
        let got: Vec<String> = properties_order(keys(file))
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !k.starts_with("server."))
            .collect();
        assert_eq!(
            got,
            [
                "admin.enableServer",
                "dataDir",
                "tickTime",
                "initLimit",
                "clientPort",
                "4lw.commands.whitelist",
                "syncLimit",
                "reconfigEnabled"
            ]
        );
    }

    /// 32 keys (two resizes, 16 -> 32 -> 64 bins) and colliding server ids; the expected
    /// orders were printed by Java 17 (`Properties.load`, `entrySet()`, then a
    /// `HashMap<Long, _>` filled in that order, as `QuorumMaj` does).
    #[test]
    fn orders_of_a_large_file_match_java() {
        let file = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zookeeper\nclientPort=2181\nreconfigEnabled=true\nstandaloneEnabled=false\n4lw.commands.whitelist=*\nadmin.enableServer=false\nsnapCount=1000\npreAllocSize=1024\nmaxClientCnxns=100\nautopurge.snapRetainCount=5\nautopurge.purgeInterval=1\nelectionAlg=3\nsyncEnabled=true\nquorumListenOnAllIPs=false\ncnxTimeout=4000\nminSessionTimeout=4000\nmaxSessionTimeout=40000\nserver.17=a\nserver.1=a\nserver.33=a\nserver.49=a\nserver.65=a\nserver.2=a\nserver.18=a\nserver.100=a\nserver.1000=a\nserver.4294967297=a\nserver.16=a\nserver.0=a";
        let java_keys = "dataDir 4lw.commands.whitelist server.18 syncLimit server.16 server.17 server.4294967297 syncEnabled server.33 standaloneEnabled admin.enableServer initLimit clientPort electionAlg minSessionTimeout snapCount server.1000 server.100 autopurge.purgeInterval maxSessionTimeout server.49 reconfigEnabled server.65 server.2 server.1 server.0 autopurge.snapRetainCount cnxTimeout tickTime quorumListenOnAllIPs preAllocSize maxClientCnxns";
        let got = properties_order(keys(file));
        let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got_keys.join(" "), java_keys);
        let ids = got
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("server.")?.parse().ok());
        assert_eq!(
            hash_map_long_order(ids),
            [16, 4_294_967_297, 0, 17, 33, 49, 65, 1, 18, 2, 100, 1000]
        );
    }

    #[test]
    fn repeated_keys_keep_their_place_and_take_the_last_value() {
        let got = properties_order(keys("a=1\nb=2\na=3"));
        assert_eq!(got, keys("a=3\nb=2"));
    }

    #[test]
    fn long_hash_map_orders_by_bin_then_insertion() {
        assert_eq!(hash_map_long_order([3, 1, 2]), [1, 2, 3]);
        // 16 and 17 share bins 0 and 1 with 0 and 1 in a 16-bin table.
        assert_eq!(hash_map_long_order([17, 16, 1, 34]), [16, 17, 1, 34]);
        assert_eq!(hash_map_long_order([1, 17]), [1, 17]);
        // 13 entries: 32 bins, so 16 and 17 sort after 15.
        let ids: Vec<i64> = (1..=13).chain([16, 17]).collect();
        let got = hash_map_long_order(ids.clone());
        assert_eq!(got, ids);
    }
}
