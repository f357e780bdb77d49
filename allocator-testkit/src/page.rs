//! The conformance checks of [`PageAllocator`]s.
//!
//! As in [`byte`](crate::byte): each `pub fn` is one check taking a maker of
//! fresh, uninitialised allocators and a [`PageConfig`];
//! [`page_allocator_tests!`](crate::page_allocator_tests) makes one `#[test]`
//! of each.

use allocator_traits::region::{addr_to_ptr, align_down, is_aligned};
use allocator_traits::{AllocError, AllocResult, PageAllocator, Region};

use crate::rng::mix64;
use crate::{At, Intervals, KeptPools, Pool, Rng, describe};

/// What a page allocator promises, and how hard to test it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageConfig {
    /// Pages in each region (default 1024).
    pub pages: usize,
    /// The alignment of each region's start (default 4096; at least the
    /// allocator's page size is used). Pools are aligned to exactly this.
    pub region_align: usize,
    /// The largest `num_pages` churn asks for (default 16).
    pub max_pages: usize,
    /// The largest alignment churn asks for, in pages (default 64).
    pub max_align_pages: usize,
    /// How many regions the multi-region check adds (default 3).
    pub max_regions: usize,
    /// Operations per random churn (default 5000).
    pub ops: usize,
    /// How many seeds each randomised check runs (default 2).
    pub seeds: u64,
    /// The first seed (default `0x5EED`).
    pub seed: u64,
    /// Whether a refusal means there really is no free run of pages with
    /// the alignment asked (default `true`: right for bitmap allocators,
    /// which search every page).
    pub exhaustive: bool,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PageConfig {
    /// The defaults: regions of 1024 pages, churn of 5000 operations of up
    /// to 16 pages aligned up to 64 pages.
    pub const fn new() -> Self {
        Self {
            pages: 1024,
            region_align: 4096,
            max_pages: 16,
            max_align_pages: 64,
            max_regions: 3,
            ops: 5000,
            seeds: 2,
            seed: 0x5EED,
            exhaustive: true,
        }
    }

    /// A small, quick configuration for Miri: 32 pages, 200 operations.
    pub const fn tiny() -> Self {
        Self {
            pages: 32,
            max_pages: 8,
            max_align_pages: 8,
            max_regions: 2,
            ops: 200,
            seeds: 1,
            ..Self::new()
        }
    }

    /// Sets [`pages`](Self::pages).
    pub const fn with_pages(mut self, pages: usize) -> Self {
        self.pages = pages;
        self
    }

    /// Sets [`region_align`](Self::region_align).
    pub const fn with_region_align(mut self, region_align: usize) -> Self {
        self.region_align = region_align;
        self
    }

    /// Sets [`max_pages`](Self::max_pages).
    pub const fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// Sets [`max_align_pages`](Self::max_align_pages).
    pub const fn with_max_align_pages(mut self, max_align_pages: usize) -> Self {
        self.max_align_pages = max_align_pages;
        self
    }

    /// Sets [`max_regions`](Self::max_regions).
    pub const fn with_max_regions(mut self, max_regions: usize) -> Self {
        self.max_regions = max_regions;
        self
    }

    /// Sets [`ops`](Self::ops).
    pub const fn with_ops(mut self, ops: usize) -> Self {
        self.ops = ops;
        self
    }

    /// Sets [`seeds`](Self::seeds).
    pub const fn with_seeds(mut self, seeds: u64) -> Self {
        self.seeds = seeds;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`exhaustive`](Self::exhaustive).
    pub const fn with_exhaustive(mut self, exhaustive: bool) -> Self {
        self.exhaustive = exhaustive;
        self
    }

    /// The seeds of the randomised checks.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> + use<> {
        let first = self.seed;
        (0..self.seeds.max(1)).map(move |i| first.wrapping_add(i))
    }

    pub(crate) fn region_align_for(&self, page_size: usize) -> usize {
        self.region_align.max(page_size)
    }
}

/// The two bytes written to the first and last byte of page `addr` of
/// allocation `id`.
fn page_marks(id: u64, addr: usize) -> (u8, u8) {
    let h = mix64(id ^ (addr as u64).rotate_left(17));
    (h as u8, (h >> 8) as u8)
}

/// The model of a page allocator: the managed regions and the allocated
/// page ranges.
#[derive(Debug, Default)]
pub struct PageModel {
    page_size: usize,
    regions: Vec<Region>,
    used: Intervals,
    next_id: u64,
    /// Where we are, for failure messages.
    pub context: String,
    /// The operation number, for failure messages.
    pub step: usize,
}

impl PageModel {
    /// An empty model for pages of `page_size` bytes.
    pub fn new(page_size: usize, context: impl Into<String>) -> Self {
        Self { page_size, context: context.into(), ..Self::default() }
    }

    fn at(&self) -> At<'_> {
        At::new(&self.context, self.step)
    }

    /// Records a managed region.
    pub fn add_region(&mut self, region: Region) {
        self.regions.push(region);
    }

    /// The managed regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The allocated page ranges (byte addresses).
    pub fn used(&self) -> &Intervals {
        &self.used
    }

    /// The number of allocated pages.
    pub fn used_pages(&self) -> usize {
        self.used.covered() / self.page_size
    }

    /// Whether `[addr, addr + num_pages pages)` lies inside one managed
    /// region (an overflowing range never does).
    pub fn is_managed(&self, addr: usize, num_pages: usize) -> bool {
        num_pages
            .checked_mul(self.page_size)
            .is_some_and(|len| self.regions.iter().any(|r| r.contains_range(addr, len)))
    }

    /// Whether any managed region has `num_pages` free pages at a multiple
    /// of `align`.
    pub fn has_free_run(&self, num_pages: usize, align: usize) -> bool {
        let len = num_pages.saturating_mul(self.page_size);
        self.regions.iter().any(|&r| self.used.has_free_run(r, len, align))
    }

    /// Checks pages the allocator just returned (aligned, managed, free in
    /// the model), marks the first and last byte of each, and records them.
    ///
    /// # Safety
    ///
    /// The pages were just returned by the allocator: if they lie in a
    /// managed region, that memory is writable and carries exposed
    /// provenance (a [`Pool`]).
    pub unsafe fn insert(&mut self, addr: usize, num_pages: usize, align: usize) {
        let at = At::new(&self.context, self.step);
        assert!(
            is_aligned(addr, align),
            "{at} {num_pages} page(s) at {addr:#x} are not aligned to {align:#x}"
        );
        assert!(
            self.is_managed(addr, num_pages),
            "{at} {num_pages} page(s) at {addr:#x} are not inside a managed region ({})",
            describe(&self.regions)
        );
        let end = addr + num_pages * self.page_size;
        let id = self.next_id;
        self.next_id += 1;
        if let Err((s, e, other)) = self.used.insert(addr, end, id) {
            panic!("{at} pages [{addr:#x}, {end:#x}) overlap allocation #{other} at [{s:#x}, {e:#x})");
        }
        for page in (addr..end).step_by(self.page_size) {
            let (first, last) = page_marks(id, page);
            let ptr = addr_to_ptr(page).expect("managed pages are not at address 0");
            // SAFETY: the page lies in a managed region, which is writable
            // memory with exposed provenance (caller's contract), and no
            // other allocation holds it (checked above).
            unsafe {
                ptr.write(first);
                ptr.add(self.page_size - 1).write(last);
            }
        }
    }

    /// Verifies the marks of `[addr, addr + num_pages pages)`, which must lie
    /// inside one allocation, and forgets those pages.
    pub fn remove(&mut self, addr: usize, num_pages: usize) {
        let at = At::new(&self.context, self.step);
        let end = addr + num_pages * self.page_size;
        let Some((_, _, id)) = self.used.containing(addr) else {
            panic!("{at} freeing pages at {addr:#x} not allocated")
        };
        self.verify(addr, end, id);
        assert_eq!(
            self.used.remove_range(addr, end),
            Some(id),
            "{at} [{addr:#x}, {end:#x}) is inside one allocation"
        );
    }

    fn verify(&self, addr: usize, end: usize, id: u64) {
        for page in (addr..end).step_by(self.page_size) {
            let ptr = addr_to_ptr(page).expect("managed pages are not at address 0");
            // SAFETY: the page was allocated and marked in `insert` and is
            // still allocated; the memory is readable (a pool).
            let got = unsafe { (ptr.read(), ptr.add(self.page_size - 1).read()) };
            assert_eq!(
                got,
                page_marks(id, page),
                "{} the page at {page:#x} (allocation #{id}) was overwritten",
                self.at()
            );
        }
    }

    /// Verifies every allocated page.
    pub fn verify_all(&self) {
        for (s, e, id) in self.used.iter() {
            self.verify(s, e, id);
        }
    }

    /// Panics unless `used + available == total`, `total` is at most the
    /// managed pages, and `used` exceeds `baseline` (pages the allocator
    /// counted as used right after `init`) by exactly the model's pages.
    pub fn check_stats<P: PageAllocator + ?Sized>(&self, alloc: &P, baseline: usize) {
        let (total, used, available) = (alloc.total_pages(), alloc.used_pages(), alloc.available_pages());
        let at = self.at();
        assert_eq!(used.checked_add(available), Some(total), "{at} used + available != total pages");
        let managed: usize = self.regions.iter().map(|r| r.size() / self.page_size).sum();
        assert!(total <= managed, "{at} total_pages {total} exceeds the {managed} pages handed over");
        assert_eq!(used, baseline + self.used_pages(), "{at} used_pages (right after init: {baseline})");
    }
}

/// A page allocator under test with its model and memory (dropped in this
/// order).
#[derive(Debug)]
pub struct PageHarness<P> {
    /// The allocator under test.
    pub alloc: P,
    /// What should be allocated.
    pub model: PageModel,
    /// `used_pages()` right after the first region was added.
    pub baseline: usize,
    pools: KeptPools,
}

impl<P: PageAllocator> PageHarness<P> {
    /// A fresh, uninitialised allocator.
    pub fn uninit(make: &dyn Fn() -> P, context: impl Into<String>) -> Self {
        Self {
            alloc: make(),
            model: PageModel::new(P::PAGE_SIZE, context),
            baseline: 0,
            pools: KeptPools::default(),
        }
    }

    /// An allocator initialised with one pool of `cfg.pages` pages.
    pub fn new(make: &dyn Fn() -> P, cfg: &PageConfig, context: impl Into<String>) -> Self {
        let mut heap = Self::uninit(make, context);
        let pool = Pool::new(cfg.pages * P::PAGE_SIZE, cfg.region_align_for(P::PAGE_SIZE));
        let region = pool.region();
        heap.pools.keep(pool);
        heap.add(region, true).unwrap_or_else(|e| panic!("init with a good {region:?} failed: {e:?}"));
        heap
    }

    /// Keeps `pool` alive as long as the heap (without handing it over).
    pub fn keep(&mut self, pool: Pool) -> &Pool {
        self.pools.keep(pool)
    }

    /// Hands `region` (memory of a kept pool) over with `init` (`first`) or
    /// `add_memory`.
    pub fn add(&mut self, region: Region, first: bool) -> AllocResult {
        // SAFETY: the pools outlive the allocator (field order: it drops
        // first) and the checks hand each part of a pool to one allocator.
        let result = unsafe { self.pools.hand_over(&mut self.alloc, region, first) };
        if result.is_ok() {
            if self.model.regions().is_empty() {
                self.baseline = self.alloc.used_pages();
            }
            self.model.add_region(region);
        }
        result
    }

    /// `alloc_pages`, checked; an error must be one of `allowed`, and with
    /// `exhaustive`, a `NoMemory` must be right.
    pub fn alloc(
        &mut self,
        num_pages: usize,
        align: usize,
        allowed: &[AllocError],
        exhaustive: bool,
    ) -> AllocResult<usize> {
        match self.alloc.alloc_pages(num_pages, align) {
            Ok(addr) => {
                // SAFETY: just returned by the allocator, whose regions are pools.
                unsafe { self.model.insert(addr, num_pages, align) };
                Ok(addr)
            }
            Err(e) => {
                let at = self.model.at();
                assert!(allowed.contains(&e), "{at} alloc_pages({num_pages}, {align:#x}) failed with {e:?}");
                if exhaustive && e == AllocError::NoMemory {
                    assert!(
                        !self.model.has_free_run(num_pages, align),
                        "{at} alloc_pages({num_pages}, {align:#x}) is NoMemory, but such free pages exist"
                    );
                }
                Err(e)
            }
        }
    }

    /// Verifies and frees `num_pages` pages at `addr` (inside one allocation).
    pub fn free(&mut self, addr: usize, num_pages: usize) {
        self.model.remove(addr, num_pages);
        // SAFETY: the pages were allocated by this allocator and are no
        // longer used (just removed from the model).
        unsafe { self.alloc.dealloc_pages(addr, num_pages) };
    }

    /// Frees a random allocation, sometimes in two parts.
    pub fn free_random(&mut self, rng: &mut Rng) {
        let ps = P::PAGE_SIZE;
        let (s, e, _) = self.model.used().iter().nth(rng.below(self.model.used().len())).expect("not empty");
        let pages = (e - s) / ps;
        if pages > 1 && rng.chance(1, 4) {
            let split = rng.range(1, pages);
            self.free(s + split * ps, pages - split);
            self.free(s, split);
        } else {
            self.free(s, pages);
        }
    }

    /// Frees everything, then checks the statistics are back to the baseline.
    pub fn free_all(&mut self) {
        while let Some((s, e, _)) = self.model.used().first() {
            self.free(s, (e - s) / P::PAGE_SIZE);
        }
        self.check_stats();
    }

    /// Asserts the statistics invariants.
    pub fn check_stats(&self) {
        self.model.check_stats(&self.alloc, self.baseline);
    }

    /// `alloc_pages_at(base, num_pages, align)` checked against the model:
    /// free managed pages must be served at exactly `base`; pages in use are
    /// [`AllocError::NoMemory`]; unmanaged ones are an error.
    pub fn alloc_at(&mut self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        let at = self.model.at();
        let result = self.alloc.alloc_pages_at(base, num_pages, align);
        let call = || format!("{at} alloc_pages_at({base:#x}, {num_pages}, {align:#x})");
        if self.model.is_managed(base, num_pages) {
            let len = num_pages * P::PAGE_SIZE;
            if let Some((s, e, id)) = self.model.used().overlapping(base, base + len) {
                assert_eq!(
                    result,
                    Err(AllocError::NoMemory),
                    "{}: pages in use by #{id} at [{s:#x}, {e:#x})",
                    call()
                );
            } else {
                assert_eq!(result, Ok(base), "{}: free pages", call());
                // SAFETY: just returned by the allocator; managed pool memory.
                unsafe { self.model.insert(base, num_pages, align) };
            }
        } else {
            let allowed = [AllocError::InvalidParam, AllocError::NoMemory, AllocError::NotAllocated];
            assert!(
                result.is_err_and(|e| allowed.contains(&e)),
                "{}: unmanaged pages gave {result:?}",
                call()
            );
        }
        result
    }

    /// The largest `num_pages` that `alloc_pages(num_pages, PAGE_SIZE)`
    /// serves now (binary search; each probe is freed at once).
    pub fn largest_run(&mut self) -> usize {
        let ps = P::PAGE_SIZE;
        let at = self.model.at();
        let total = self.alloc.total_pages();
        let mut fits = |n: usize| match self.alloc.alloc_pages(n, ps) {
            Ok(addr) => {
                assert!(
                    self.model.is_managed(addr, n),
                    "{at} probe of {n} pages at {addr:#x} is not managed"
                );
                // SAFETY: just allocated, not used.
                unsafe { self.alloc.dealloc_pages(addr, n) };
                true
            }
            Err(AllocError::NoMemory) => false,
            Err(e) => panic!("{at} probe alloc_pages({n}) failed with {e:?}, not NoMemory"),
        };
        if !fits(1) {
            return 0;
        }
        assert!(!fits(total + 1), "{at} {} pages served out of {total}", total + 1);
        let (mut lo, mut hi) = (1, total + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// `ops` random alloc_pages / dealloc_pages / alloc_pages_at operations
    /// against the model, statistics checked after each.
    pub fn churn(&mut self, rng: &mut Rng, cfg: &PageConfig, ops: usize) {
        let ps = P::PAGE_SIZE;
        for step in 0..ops {
            self.model.step = step;
            let roll = rng.below(10);
            if self.model.used().is_empty() || roll < 5 {
                let num_pages = rng.size_up_to(cfg.max_pages).max(1);
                let align = if rng.chance(1, 2) { ps } else { ps * rng.pow2_up_to(cfg.max_align_pages) };
                if self.alloc(num_pages, align, &[AllocError::NoMemory], cfg.exhaustive).is_err() {
                    for _ in 0..rng.range(1, 5) {
                        if !self.model.used().is_empty() {
                            self.free_random(rng);
                        }
                    }
                }
            } else if roll < 8 {
                self.free_random(rng);
            } else {
                let region = self.model.regions()[rng.below(self.model.regions().len())];
                let align = ps * rng.pow2_up_to(4);
                let pages = region.size() / ps;
                let page = rng.range(0, pages + 8) as isize - 4;
                let base = align_down(region.start.wrapping_add_signed(page * ps as isize), align);
                let _ = self.alloc_at(base, rng.range(1, 5), align);
            }
            self.check_stats();
        }
    }
}

/// Seeded random `alloc_pages` (1..=`max_pages`, aligned up to
/// `max_align_pages`), partial and whole `dealloc_pages`, and
/// `alloc_pages_at` inside, outside and on used pages, against a model:
/// aligned, inside the region, no overlap, page contents kept, statistics
/// exact.
pub fn random_churn<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    for seed in cfg.seed_list() {
        let mut heap = PageHarness::new(make, cfg, format!("page random_churn seed {seed:#x}"));
        heap.churn(&mut Rng::new(seed), cfg, cfg.ops);
        heap.model.verify_all();
        heap.free_all();
    }
}

/// The largest run of pages and `available_pages` are the same on a fresh
/// allocator and after churn and freeing everything; a full fill uses every
/// page.
pub fn recovery<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    for seed in cfg.seed_list() {
        let mut heap = PageHarness::new(make, cfg, format!("page recovery seed {seed:#x}"));
        let fresh = heap.largest_run();
        let available = heap.alloc.available_pages();
        assert!(fresh > 0, "a fresh page allocator serves no page");
        heap.churn(&mut Rng::new(seed), cfg, cfg.ops / 2);
        heap.free_all();
        assert_eq!(heap.largest_run(), fresh, "page recovery seed {seed:#x}: largest run after freeing all");
        assert_eq!(heap.alloc.available_pages(), available, "page recovery seed {seed:#x}: available pages");
        // Out of memory: one page at a time until refused, then every page is used.
        let ps = P::PAGE_SIZE;
        while heap.alloc(1, ps, &[AllocError::NoMemory], cfg.exhaustive).is_ok() {}
        assert_eq!(heap.alloc.available_pages(), 0, "page recovery: pages left after filling");
        assert_eq!(
            heap.alloc.alloc_pages(1, ps),
            Err(AllocError::NoMemory),
            "alloc_pages on a full allocator"
        );
        heap.model.verify_all();
        heap.free_all();
        assert_eq!(heap.largest_run(), fresh, "page recovery seed {seed:#x}: largest run after a fill");
    }
}

/// Several regions, carved with gaps from one pool, added in random order
/// (and once descending): total_pages grows by each, and filling uses every
/// page of every region.
pub fn regions<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    let ps = P::PAGE_SIZE;
    let align = cfg.region_align_for(ps);
    let count = cfg.max_regions.max(1);
    let size = cfg.pages * ps;
    for (round, seed) in cfg.seed_list().enumerate() {
        let mut rng = Rng::new(seed);
        let mut heap = PageHarness::uninit(make, format!("page regions seed {seed:#x}"));
        let gaps: Vec<usize> = (0..count).map(|_| align * rng.range(1, 4)).collect();
        let pool = heap.keep(Pool::new(count * size + gaps.iter().sum::<usize>(), align));
        let mut slots = Vec::new();
        let mut start = pool.start();
        for gap in gaps {
            slots.push(Region { start, end: start + size });
            start += size + gap;
        }
        if round == 0 {
            slots.reverse();
        } else {
            rng.shuffle(&mut slots);
        }
        let mut total = 0;
        for (i, &region) in slots.iter().enumerate() {
            heap.add(region, i == 0).unwrap_or_else(|e| panic!("adding region {i} {region:?} failed: {e:?}"));
            let now = heap.alloc.total_pages();
            assert_eq!(now, total + cfg.pages, "total_pages after adding region {i} of {} pages", cfg.pages);
            total = now;
            heap.check_stats();
        }
        while heap.alloc(1, ps, &[AllocError::NoMemory], cfg.exhaustive).is_ok() {}
        assert_eq!(heap.alloc.used_pages(), heap.alloc.total_pages(), "a full allocator uses every page");
        heap.free_all();
        heap.churn(&mut rng, cfg, cfg.ops / 4);
        heap.model.verify_all();
        heap.free_all();
    }
}

/// Before `init`: `alloc_pages` is [`AllocError::NoMemory`], statistics 0.
pub fn before_init<P: PageAllocator>(make: &dyn Fn() -> P, _cfg: &PageConfig) {
    let mut alloc = make();
    assert_eq!(alloc.alloc_pages(1, P::PAGE_SIZE), Err(AllocError::NoMemory), "alloc_pages before init");
    assert_eq!(
        (alloc.total_pages(), alloc.used_pages(), alloc.available_pages()),
        (0, 0, 0),
        "statistics before init"
    );
}

/// `alloc_pages(0, ..)`, alignments that are not powers of two or below a
/// page, and misaligned `alloc_pages_at` bases are
/// [`AllocError::InvalidParam`]; nothing changes.
pub fn bad_arguments<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    let ps = P::PAGE_SIZE;
    let mut heap = PageHarness::new(make, cfg, "page bad_arguments");
    let start = heap.model.regions()[0].start;
    let invalid = Err(AllocError::InvalidParam);
    assert_eq!(heap.alloc.alloc_pages(0, ps), invalid, "alloc_pages(0 pages)");
    assert_eq!(heap.alloc.alloc_pages_at(start, 0, ps), invalid, "alloc_pages_at(0 pages)");
    for align in [0, 1, ps / 2, ps - 1, ps + 1, 3 * ps, ps + ps / 2, usize::MAX] {
        assert_eq!(heap.alloc.alloc_pages(1, align), invalid, "alloc_pages(1, align {align:#x})");
        assert_eq!(heap.alloc.alloc_pages_at(start, 1, align), invalid, "alloc_pages_at(align {align:#x})");
    }
    assert_eq!(
        heap.alloc.alloc_pages_at(start + ps / 2, 1, ps),
        invalid,
        "alloc_pages_at an address inside a page"
    );
    let odd_page = if is_aligned(start, 2 * ps) { start + ps } else { start };
    assert_eq!(
        heap.alloc.alloc_pages_at(odd_page, 1, 2 * ps),
        invalid,
        "alloc_pages_at a base not aligned to align"
    );
    heap.check_stats();
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}

/// Counts beyond the allocator, overflowing counts and huge alignments are
/// [`AllocError::NoMemory`] (alignments: or served aligned, or
/// `InvalidParam`); `alloc_pages_at` outside the region is an error.
pub fn huge_requests<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    let ps = P::PAGE_SIZE;
    let mut heap = PageHarness::new(make, cfg, "page huge_requests");
    let region = heap.model.regions()[0];
    let total = heap.alloc.total_pages();
    for num_pages in [total + 1, usize::MAX / ps, usize::MAX / ps + 1, usize::MAX / 2, usize::MAX] {
        assert_eq!(
            heap.alloc.alloc_pages(num_pages, ps),
            Err(AllocError::NoMemory),
            "alloc_pages({num_pages:#x})"
        );
        heap.check_stats();
    }
    for shift in ps.trailing_zeros()..usize::BITS {
        let align = 1usize << shift;
        let _ = heap.alloc(1, align, &[AllocError::NoMemory, AllocError::InvalidParam], false);
        heap.check_stats();
    }
    heap.free_all();
    let outside = [
        (region.end, 1),
        (region.start - ps, 1),
        (region.end - ps, 2),
        (region.start, total + 1),
        (region.start, usize::MAX / ps),
        (region.start, usize::MAX),
        (usize::MAX & !(ps - 1), 1),
        (0, 1),
    ];
    for (base, num_pages) in outside {
        let _ = heap.alloc_at(base, num_pages, ps);
        heap.check_stats();
    }
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}

const SENTINEL: u8 = 0xE7;

/// Regions of 0, 1 and `PAGE_SIZE - 1` bytes, overflowing ranges, and `init`
/// on an initialised allocator are errors; unaligned starts are trimmed (or
/// refused) without a write outside the range; overlapping `add_memory` is
/// [`AllocError::MemoryOverlap`], adjacent is fine.
pub fn bad_regions<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig) {
    let ps = P::PAGE_SIZE;
    let align = cfg.region_align_for(ps);
    let size = cfg.pages * ps;
    // Too small.
    for tiny in [0, 1, ps - 1] {
        let mut heap = PageHarness::uninit(make, format!("page bad_regions tiny {tiny}"));
        let pool = heap.keep(Pool::new(size, align));
        pool.fill(0, size, SENTINEL);
        let start = pool.start();
        assert_eq!(
            heap.add(Region { start, end: start + tiny }, true),
            Err(AllocError::InvalidParam),
            "init of {tiny} bytes"
        );
        heap.pools[0].assert_filled(0, size, SENTINEL, "a refused tiny region");
        heap.add(Region { start, end: start + size }, true)
            .unwrap_or_else(|e| panic!("init after a refusal: {e:?}"));
        heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
        heap.free_all();
    }
    // Overflowing.
    let bad = [
        (usize::MAX - 100, 4096),
        (usize::MAX - (ps - 1), ps),
        (usize::MAX & !(ps - 1), 2 * ps),
        (ps, usize::MAX),
    ];
    let mut alloc = make();
    for (start, size) in bad {
        // SAFETY: deliberately not memory: the allocator must reject an
        // overflowing range before touching it.
        let result = unsafe { alloc.init(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "init({start:#x}, {size:#x})");
    }
    drop(alloc);
    let mut heap = PageHarness::new(make, cfg, "page bad_regions overflow");
    for (start, size) in bad {
        // SAFETY: as above.
        let result = unsafe { heap.alloc.add_memory(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "add_memory({start:#x}, {size:#x})");
    }
    // Init twice.
    let first = heap.model.regions()[0];
    let other = heap.keep(Pool::new(size, align));
    other.fill(0, size, SENTINEL);
    let other = other.region();
    for region in [first, other] {
        let result = heap.add(region, true);
        let allowed = [AllocError::MemoryOverlap, AllocError::InvalidParam];
        assert!(result.is_err_and(|e| allowed.contains(&e)), "a second init with {region:?}: {result:?}");
    }
    heap.pools[1].assert_filled(0, size, SENTINEL, "a refused second init");
    heap.check_stats();
    drop(heap);
    // Unaligned starts.
    for offset in [1, ps / 2, ps - 1] {
        let mut heap = PageHarness::uninit(make, format!("page bad_regions offset {offset}"));
        let pool = heap.keep(Pool::new(size + ps, align));
        pool.fill(0, size + ps, SENTINEL);
        let start = pool.start() + offset;
        let result = heap.add(Region { start, end: start + size }, true);
        assert!(matches!(result, Ok(()) | Err(AllocError::InvalidParam)), "unaligned region: {result:?}");
        if result.is_ok() {
            assert!(heap.alloc.total_pages() <= cfg.pages, "more pages than fit the unaligned region");
            while heap.alloc(1, ps, &[AllocError::NoMemory], cfg.exhaustive).is_ok() {}
            heap.free_all();
        }
        let pool = heap.pools.last().expect("kept");
        pool.assert_filled(0, offset, SENTINEL, "before an unaligned region");
        pool.assert_filled(offset + size, ps - offset, SENTINEL, "after an unaligned region");
    }
    // Overlapping add_memory.
    let unit = (size / 4).next_multiple_of(align);
    let mut heap = PageHarness::uninit(make, "page bad_regions overlap");
    let pool = heap.keep(Pool::new(4 * unit, align));
    pool.fill(0, 4 * unit, SENTINEL);
    let s = pool.start();
    let managed = Region { start: s + unit, end: s + 2 * unit };
    heap.add(managed, true).unwrap_or_else(|e| panic!("init with a good region: {e:?}"));
    let half = (unit / 2).next_multiple_of(ps);
    for (what, region) in [
        ("duplicate", managed),
        ("overlapping its start", Region { start: s + half, end: s + unit + half }),
        ("overlapping its end", Region { start: s + unit + half, end: s + 2 * unit + half }),
        ("containing it", Region { start: s, end: s + 4 * unit }),
        ("inside it", Region { start: s + unit + ps, end: s + unit + 2 * ps }),
    ] {
        assert_eq!(heap.add(region, false), Err(AllocError::MemoryOverlap), "add_memory of a region {what}");
        heap.pools[0].assert_filled(0, unit, SENTINEL, what);
        heap.pools[0].assert_filled(2 * unit, 2 * unit, SENTINEL, what);
        heap.check_stats();
    }
    heap.add(Region { start: s + 2 * unit, end: s + 3 * unit }, false)
        .unwrap_or_else(|e| panic!("add_memory of an adjacent region: {e:?}"));
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}
