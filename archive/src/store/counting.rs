//! Counting the requests a command makes to the object store, by kind, so
//! that an operator (`perfkit -v …`) and the benchmarks see what a command
//! costs: what a cloud store bills and what scales with the history.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// Keys per LIST page: S3's and GCS's default (and maximum) page size, so
/// a listing of N keys costs `ceil(N / 1000)` requests there (Azure pages
/// hold up to 5,000).
pub const LIST_PAGE_KEYS: u64 = 1000;

/// Requests made so far.
#[derive(Debug, Default)]
pub struct RequestCounts {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    lists: AtomicU64,
    listed_keys: AtomicU64,
    list_pages: AtomicU64,
}

/// A snapshot of [`RequestCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requests {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub delete: u64,
    /// LIST calls (listings), each one or more pages.
    pub lists: u64,
    /// LIST requests at [`LIST_PAGE_KEYS`] keys per page.
    pub list_pages: u64,
    /// Keys all listings returned.
    pub listed_keys: u64,
}

impl Requests {
    /// Every request, LIST pages counted one each.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.delete + self.list_pages
    }
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} object store requests: {} GET, {} HEAD, {} LIST pages ({} keys), {} PUT, {} DELETE",
            self.total(),
            self.get,
            self.head,
            self.list_pages,
            self.listed_keys,
            self.put,
            self.delete
        )
    }
}

impl RequestCounts {
    pub fn snapshot(&self) -> Requests {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Requests {
            get: n(&self.get),
            head: n(&self.head),
            put: n(&self.put),
            delete: n(&self.delete),
            lists: n(&self.lists),
            list_pages: n(&self.list_pages),
            listed_keys: n(&self.listed_keys),
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a listing's keys as they stream by, and its pages at the end.
    fn counted_list(
        self: &Arc<Self>,
        stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        Self::add(&self.lists);
        let counts = self.clone();
        let keys = Arc::new(AtomicU64::new(0));
        let seen = keys.clone();
        let items = stream.inspect(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        });
        let end = futures::stream::once(async move {
            let n = keys.load(Ordering::Relaxed);
            counts.listed_keys.fetch_add(n, Ordering::Relaxed);
            counts
                .list_pages
                .fetch_add(n.div_ceil(LIST_PAGE_KEYS).max(1), Ordering::Relaxed);
            None
        });
        items
            .map(Some)
            .chain(end)
            .filter_map(futures::future::ready)
            .boxed()
    }
}

/// An object store that counts the requests made through it.
#[derive(Debug)]
pub(crate) struct CountingStore {
    pub(crate) inner: Arc<dyn ObjectStore>,
    pub(crate) counts: Arc<RequestCounts>,
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        RequestCounts::add(&self.counts.put);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        RequestCounts::add(&self.counts.put);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if options.head {
            RequestCounts::add(&self.counts.head);
        } else {
            RequestCounts::add(&self.counts.get);
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        RequestCounts::add(&self.counts.get);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let counts = self.counts.clone();
        let counted = locations
            .inspect(move |_| RequestCounts::add(&counts.delete))
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts.counted_list(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts
            .counted_list(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        RequestCounts::add(&self.counts.lists);
        let listed = self.inner.list_with_delimiter(prefix).await?;
        let keys = (listed.objects.len() + listed.common_prefixes.len()) as u64;
        self.counts.listed_keys.fetch_add(keys, Ordering::Relaxed);
        self.counts
            .list_pages
            .fetch_add(keys.div_ceil(LIST_PAGE_KEYS).max(1), Ordering::Relaxed);
        Ok(listed)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        RequestCounts::add(&self.counts.put);
        self.inner.copy_opts(from, to, options).await
    }
}
