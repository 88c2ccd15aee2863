//! What the tracer knows about each traced thread, shared with the answering side:
//! whether its program gets the fake clock from clockwatch (vDSO redirected or hidden), and its memory file, opened once.
//!
//! A cached `/proc/TID/mem` is safe against pid reuse because the tracer drops it
//! when it sees the thread exit or exec, and a traced thread's pid cannot be reused
//! before its tracer has waited for its exit.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Entry {
    watched: bool,
    mem: Option<Arc<File>>,
}

#[derive(Debug, Default)]
pub struct Tracees(Mutex<HashMap<i32, Entry>>);

impl Tracees {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<i32, Entry>) -> T) -> T {
        let mut g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// A new thread or process, unless already recorded.
    pub fn add(&self, tid: i32, watched: bool) {
        self.with(|m| {
            m.entry(tid).or_insert(Entry { watched, mem: None });
        });
    }

    /// `tid` exec'd a new program: new memory, new verdict.
    pub fn exec(&self, tid: i32, watched: bool) {
        self.with(|m| m.insert(tid, Entry { watched, mem: None }));
    }

    pub fn remove(&self, tid: i32) {
        self.with(|m| m.remove(&tid));
    }

    pub fn is_watched(&self, tid: i32) -> bool {
        self.with(|m| m.get(&tid).is_some_and(|e| e.watched))
    }

    /// The thread's memory, opened on first use and kept while the tracer knows it.
    pub fn mem(&self, tid: i32) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.with(|m| m.get(&tid).and_then(|e| e.mem.clone())) {
            return Ok(f);
        }
        let f = Arc::new(File::options().read(true).write(true).open(format!("/proc/{tid}/mem"))?);
        self.with(|m| {
            if let Some(e) = m.get_mut(&tid) {
                e.mem = Some(f.clone());
            }
        });
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_and_exit_drop_the_cached_memory() {
        let t = Tracees::default();
        let me = std::process::id() as i32;
        t.add(me, true);
        t.add(me, false); // already known: unchanged
        assert!(t.is_watched(me));
        let a = t.mem(me).expect("own mem");
        assert!(Arc::ptr_eq(&a, &t.mem(me).expect("cached")));
        t.exec(me, false);
        assert!(!t.is_watched(me));
        assert!(!Arc::ptr_eq(&a, &t.mem(me).expect("reopened")));
        t.remove(me);
        assert!(!t.is_watched(me));
        // An unknown thread is opened but not cached.
        let b = t.mem(me).expect("uncached");
        assert!(!Arc::ptr_eq(&b, &t.mem(me).expect("uncached again")));
    }
}
