# Host unit test of the kernel heap (kernel-hooks/core/heap.c).  Its public
# names clash with glibc's, so they are renamed to ukh_* for this build; the
# page allocator, locks and panic are stubbed in the test (uk_panic longjmps
# back so that double-free detection can be asserted).
test_heap_SRCS := kernel-hooks/core/heap.c
test_heap_CFLAGS := -Ikernel-hooks -fno-builtin -Dmalloc=ukh_malloc -Dfree=ukh_free \
	-Dcalloc=ukh_calloc -Drealloc=ukh_realloc -Daligned_alloc=ukh_aligned_alloc \
	-Dposix_memalign=ukh_posix_memalign -Dabort=ukh_abort
