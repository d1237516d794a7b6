//! The memory of one query: a share of the server's pool with a ceiling of its own. Every
//! query draws from the one pool the workspace's `memory_limit` sizes (spilling operators get
//! fair shares of it), and none may hold more than `[server] query_memory_limit`, so one heavy
//! dashboard cannot starve the others; past either bound, sorts and joins spill, and what
//! cannot spill fails with a clear error rather than taking the server down.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::resources_datafusion_err;
use datafusion::error::Result;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// One query's view of the shared pool.
#[derive(Debug)]
pub struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    reserved: AtomicUsize,
}

impl QueryPool {
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> QueryPool {
        QueryPool {
            shared,
            limit,
            reserved: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query pool ({} of {} reserved)",
            self.reserved.load(Ordering::Relaxed),
            self.limit
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.shared.grow(reservation, additional);
        self.reserved.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.shared.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        // Claim the query's share first, so that two operators of one query cannot both pass
        // the check and together exceed it.
        let before = self.reserved.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.reserved.fetch_sub(additional, Ordering::Relaxed);
            return Err(resources_datafusion_err!(
                "{} needs {additional} more bytes, beyond the query's limit of {} bytes \
                 ({before} in use)",
                reservation.consumer().name(),
                self.limit
            ));
        }
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            self.reserved.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_query_stops_at_its_own_limit_and_at_the_shared_one() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let first: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&shared), 600));
        let second: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&shared), 600));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(500).unwrap();
        let err = a.try_grow(200).unwrap_err().to_string();
        assert!(err.contains("query's limit of 600"), "{err}");
        b.try_grow(400).unwrap();
        // 900 of the shared 1000 are in use: the second query's next 200 do not fit.
        assert!(b.try_grow(200).is_err());
        assert_eq!(shared.reserved(), 900);
        drop(a);
        assert_eq!(first.reserved(), 0);
        b.try_grow(200).unwrap();
        assert_eq!(shared.reserved(), 600);
    }
}
