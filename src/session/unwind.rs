//! Panics in dependencies as query errors. An odd value can reach a panic inside the query
//! engine (`arrow_cast(-9223372036854775808, 'Date64')` panics while a constant is simplified):
//! the statement that met it fails with an error, and the process, the shell and the server's
//! other queries go on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{FutureExt, Stream, StreamExt};

/// The error of a query whose work panicked.
pub fn panic_error(panic: Box<dyn Any + Send>) -> DataFusionError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    DataFusionError::Execution(format!(
        "the query engine failed on this statement (an internal error, not your data: \
         please report it): {message}"
    ))
}

/// `work`, with a panic inside it turned into an error.
pub async fn catching<T>(
    work: impl Future<Output = Result<T, DataFusionError>>,
) -> Result<T, DataFusionError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(panic_error(panic)),
    }
}

/// The batches of `stream`, with a panic while producing one turned into an error (its last
/// item).
pub fn catching_stream(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    Box::pin(Catching {
        inner: stream,
        done: false,
    })
}

struct Catching {
    inner: SendableRecordBatchStream,
    done: bool,
}

impl Stream for Catching {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let inner = &mut self.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                self.done = true;
                Poll::Ready(Some(Err(panic_error(panic))))
            }
        }
    }
}

impl RecordBatchStream for Catching {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_of_its_statement() {
        let err = catching(async {
            if true {
                panic!("overflow in scalar display");
            }
            Ok(1)
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("overflow in scalar display"), "{err}");
        assert_eq!(catching(async { Ok(2) }).await.unwrap(), 2);
    }
}
