//! The HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of recent fields,
//! newest first, bounded by a size counted as §4.1 says.

use std::collections::VecDeque;

use bytes::Bytes;

/// §4.1: "The size of an entry is the sum of its name's length in octets ...,
/// its value's length in octets, and 32." The 32 stands for per-entry overhead,
/// which is also what bounds the number of entries: at most `max_size / 32`.
pub const ENTRY_OVERHEAD: usize = 32;

/// Size of an entry as §4.1 counts it.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// A dynamic table.
#[derive(Debug, Clone)]
pub struct Table {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max_size: usize,
}

impl Table {
    /// An empty table of at most `max_size` octets.
    pub fn new(max_size: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Current size (§4.1).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`, 0 being the newest (dynamic index 62, §2.3.3).
    pub fn get(&self, i: usize) -> Option<&(Bytes, Bytes)> {
        self.entries.get(i)
    }

    /// All entries, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.entries.iter()
    }

    /// Changes the maximum size, evicting the oldest entries until the table
    /// fits (§4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry, evicting as §4.4 says: oldest first until the new entry
    /// fits; an entry larger than the maximum size empties the table and is
    /// not added ("not an error").
    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            let Some((n, v)) = self.entries.pop_back() else {
                break;
            };
            self.size -= entry_size(&n, &v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction() {
        let mut t = Table::new(100);
        t.insert(Bytes::from_static(b"aaaa"), Bytes::from_static(b"bbbb")); // 40
        t.insert(Bytes::from_static(b"cccc"), Bytes::from_static(b"dddd")); // 80
        assert_eq!((t.len(), t.size()), (2, 80));
        t.insert(Bytes::from_static(b"e"), Bytes::from_static(b"f")); // 34: evicts a
        assert_eq!((t.len(), t.size()), (2, 74));
        assert_eq!(&t.get(0).unwrap().0[..], b"e");
        assert_eq!(&t.get(1).unwrap().0[..], b"cccc");
        t.set_max_size(40);
        assert_eq!((t.len(), t.size()), (1, 34));
        // Too large for the table: empties it.
        t.insert(Bytes::from(vec![b'x'; 10]), Bytes::new());
        assert_eq!((t.len(), t.size()), (0, 0));
        t.set_max_size(0);
        t.insert(Bytes::new(), Bytes::new());
        assert!(t.is_empty());
    }
}
