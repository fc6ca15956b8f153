/* Tests for src/serve/sched.c: the dynamic batcher. A fake run_cb returns outputs = inputs * 2, so every
 * request's result can be checked; timing assertions use generous bounds (noisy 2-core machines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "serve/sched.h"

#define COLS 2          /* floats per item */
#define MAX_ITEMS 64
#define MAX_BATCHES 4096

typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_closed;            /* run_cb blocks while set */
    int entered;                /* run_cb calls started */
    int64_t batch_items[MAX_BATCHES];
    float first_value[MAX_BATCHES];
    int batch_instance[MAX_BATCHES];
    const void *batch_ptr[MAX_BATCHES];
    int n_batches;
    int running, max_running;
    int seen_999;               /* a run saw an input value of 999 */
    size_t max_requests;        /* from batch_cb */
    int sleep_us;
    int fail_on_999;            /* run_cb fails a batch holding a 999 (a request's bad input) */
    float out[4][MAX_ITEMS * COLS]; /* per-instance output memory */
} fake;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int fake_run(void *user, int instance, const fg_tensor *in, size_t n_in, int64_t n_items,
                    fg_tensor *out, size_t n_out, fg_err *e) {
    fake *f = user;
    assert_int_equal(n_in, 1);
    assert_int_equal(n_out, 1);
    /* without batching n_items is 1 and in[] are the request's own tensors */
    assert_true(in[0].dims[0] == n_items || n_items == 1);
    n_items = in[0].dims[0];
    assert_true(n_items <= MAX_ITEMS);
    const float *x = in[0].data;
    pthread_mutex_lock(&f->mu);
    int b = f->n_batches++;
    assert_true(b < MAX_BATCHES);
    f->batch_items[b] = n_items;
    f->first_value[b] = x[0];
    f->batch_instance[b] = instance;
    f->batch_ptr[b] = in[0].data;
    f->entered++;
    f->running++;
    if (f->running > f->max_running)
        f->max_running = f->running;
    for (int64_t i = 0; i < n_items * COLS; i++)
        if (x[i] == 999.0f)
            f->seen_999 = 1;
    pthread_cond_broadcast(&f->cv);
    while (f->gate_closed)
        pthread_cond_wait(&f->cv, &f->mu);
    int fail = 0;
    for (int64_t i = 0; f->fail_on_999 && i < n_items * COLS; i++)
        fail |= x[i] == 999.0f;
    pthread_mutex_unlock(&f->mu);
    if (fail) {
        pthread_mutex_lock(&f->mu);
        f->running--;
        pthread_mutex_unlock(&f->mu);
        return fg_err_set(e, FG_EINVAL, "index 999 is out of range");
    }
    if (f->sleep_us)
        sleep_us(f->sleep_us);
    float *y = f->out[instance];
    for (int64_t i = 0; i < n_items * COLS; i++)
        y[i] = x[i] * 2.0f;
    out[0] = in[0];
    out[0].data = y;
    pthread_mutex_lock(&f->mu);
    f->running--;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static void fake_batch_cb(void *user, const fg_sched_batch_info *bi) {
    fake *f = user;
    pthread_mutex_lock(&f->mu);
    if (bi->n_requests > f->max_requests)
        f->max_requests = bi->n_requests;
    pthread_mutex_unlock(&f->mu);
}

static void fake_init(fake *f) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

static void fake_gate(fake *f, int closed) {
    pthread_mutex_lock(&f->mu);
    f->gate_closed = closed;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void fake_wait_entered(fake *f, int n) {
    pthread_mutex_lock(&f->mu);
    while (f->entered < n)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

/* One test request with its own data and recorded completion. */
typedef struct treq {
    fg_sched_req r;
    fg_tensor in;
    float x[MAX_ITEMS * COLS];
    float y[MAX_ITEMS * COLS];
    atomic_int n_done;
    int status;
    int64_t out_items;
    uint64_t done_ns;
    fg_sched *resubmit_q;       /* when set, done_cb tries to submit resubmit into it */
    struct treq *resubmit;
    int resubmit_rc;
} treq;

static void treq_done(void *user, int status, const fg_tensor *out, size_t n_out, const char *msg) {
    treq *t = user;
    t->status = status;
    t->done_ns = fg_now_ns();
    if (status == 0) {
        assert_int_equal(n_out, 1);
        t->out_items = out[0].dims[0];
        memcpy(t->y, out[0].data, (size_t)out[0].dims[0] * COLS * sizeof(float));
    } else {
        assert_non_null(msg);
    }
    if (t->resubmit_q)
        t->resubmit_rc = fg_sched_submit(t->resubmit_q, &t->resubmit->r);
    atomic_fetch_add(&t->n_done, 1);
}

/* Fills t with n items whose values start at base (or all 999 when base < 0). */
static void treq_init(treq *t, int64_t n, float base, int priority, uint64_t timeout_us) {
    memset(t, 0, sizeof *t);
    for (int64_t i = 0; i < n * COLS; i++)
        t->x[i] = base < 0 ? 999.0f : base + (float)i;
    t->in = (fg_tensor){.dtype = FG_F32, .rank = 2, .dims = {n, COLS}, .data = t->x};
    t->r = (fg_sched_req){.n_items = n, .inputs = &t->in, .n_inputs = 1, .priority = priority,
                          .timeout_us = timeout_us, .done_cb = treq_done, .user = t};
}

static void treq_check(const treq *t) {
    assert_int_equal(atomic_load(&t->n_done), 1);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->out_items, t->r.n_items);
    for (int64_t i = 0; i < t->r.n_items * COLS; i++)
        assert_true(t->y[i] == t->x[i] * 2.0f);
}

static void wait_done(treq *t, int64_t max_ms) {
    for (int64_t i = 0; i < max_ms && atomic_load(&t->n_done) == 0; i++)
        sleep_us(1000);
}

static fg_sched_config base_config(int64_t mbs, uint64_t delay_us) {
    return (fg_sched_config){.max_batch_size = mbs, .max_queue_delay_us = delay_us, .n_inputs = 1,
                             .n_outputs = 1};
}

static fg_sched *start(const fg_sched_config *c, int n_inst, fake *f) {
    fg_err e = {0};
    fg_sched *q = fg_sched_new(c, &e);
    assert_non_null(q);
    assert_int_equal(fg_sched_start(q, n_inst, fake_run, f, &e), 0);
    return q;
}

/* ---- concurrent submitters ---- */
#define N_THREADS 4
#define N_PER 50
static treq conc_reqs[N_THREADS][N_PER];
typedef struct conc_arg {
    fg_sched *q;
    int t;
} conc_arg;

static void *conc_submitter(void *arg) {
    conc_arg *a = arg;
    for (int i = 0; i < N_PER; i++) {
        treq *t = &conc_reqs[a->t][i];
        treq_init(t, 1 + (a->t + i) % 3, (float)(a->t * 100000 + i * 100), 0, 0);
        assert_int_equal(fg_sched_submit(a->q, &t->r), 0);
        if (i % 10 == 0)
            sleep_us(200);
    }
    return NULL;
}

static void sched_concurrent_submitters_each_complete_once_with_own_outputs(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    f.sleep_us = 500;
    fg_sched_config c = base_config(8, 1000);
    c.batch_cb = fake_batch_cb;
    c.batch_user = &f;
    fg_sched *q = start(&c, 2, &f);
    pthread_t th[N_THREADS];
    conc_arg args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (conc_arg){q, i};
        pthread_create(&th[i], NULL, conc_submitter, &args[i]);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    fg_sched_stop(q, 0);
    for (int t = 0; t < N_THREADS; t++)
        for (int i = 0; i < N_PER; i++)
            treq_check(&conc_reqs[t][i]);
    int64_t total = 0;
    for (int b = 0; b < f.n_batches; b++) {
        assert_true(f.batch_items[b] >= 1 && f.batch_items[b] <= 8);
        total += f.batch_items[b];
    }
    int64_t want = 0;
    for (int t = 0; t < N_THREADS; t++)
        for (int i = 0; i < N_PER; i++)
            want += conc_reqs[t][i].r.n_items;
    assert_int_equal(total, want);
    assert_true(f.max_requests > 1); /* some batch held several requests */
}

/* ---- batch closing rules ---- */
static void sched_preferred_size_closes_batch_without_delay(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(8, 5000000); /* 5 s: never reached here */
    c.preferred_batch_sizes[0] = 4;
    c.n_preferred = 1;
    fg_sched *q = start(&c, 1, &f);
    static treq t[4];
    uint64_t t0 = fg_now_ns();
    for (int i = 0; i < 4; i++) {
        treq_init(&t[i], 1, (float)(i * 10), 0, 0);
        assert_int_equal(fg_sched_submit(q, &t[i].r), 0);
    }
    wait_done(&t[3], 2000);
    for (int i = 0; i < 4; i++)
        wait_done(&t[i], 2000);
    uint64_t dt = fg_now_ns() - t0;
    for (int i = 0; i < 4; i++)
        treq_check(&t[i]);
    assert_true(dt < 1500000000ull); /* well under the 5 s delay */
    assert_int_equal(f.n_batches, 1);
    assert_int_equal(f.batch_items[0], 4);
    fg_sched_stop(q, 0);
}

static void sched_oldest_request_delay_closes_partial_batch(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(8, 100000); /* 100 ms */
    fg_sched *q = start(&c, 1, &f);
    sleep_us(20000); /* the worker is already waiting before the request arrives */
    static treq t;
    treq_init(&t, 1, 1.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &t.r), 0);
    wait_done(&t, 2000);
    treq_check(&t);
    uint64_t waited = t.done_ns - t.r.enqueue_ns_;
    assert_true(waited >= 100000000ull);
    assert_true(waited < 600000000ull);
    assert_int_equal(f.batch_items[0], 1);
    fg_sched_stop(q, 0);
}

/* Adaptive delay: a lone request runs at once; a steady stream still forms full batches. */
static void sched_adaptive_delay_runs_lone_requests_at_once_and_batches_streams(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(8, 2000000); /* 2 s: a fixed delay would hold each lone request */
    c.adaptive_delay = 1;
    c.batch_cb = fake_batch_cb;
    c.batch_user = &f;
    fg_sched *q = start(&c, 1, &f);
    static treq lone[3];
    for (int i = 0; i < 3; i++) {
        treq_init(&lone[i], 1, 1.0f, 0, 0);
        assert_int_equal(fg_sched_submit(q, &lone[i].r), 0);
        wait_done(&lone[i], 3000);
        treq_check(&lone[i]);
        assert_true(lone[i].done_ns - lone[i].r.enqueue_ns_ < 1000000000ull); /* far less than 2 s */
        sleep_us(50000);
    }
    /* a burst: arrivals microseconds apart while the instance is held busy queue up and run together */
    fake_gate(&f, 1);
    static treq busy, burst[40];
    treq_init(&busy, 1, 5.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &busy.r), 0);
    fake_wait_entered(&f, 4);
    for (int i = 0; i < 40; i++) {
        treq_init(&burst[i], 1, (float)i, 0, 0);
        assert_int_equal(fg_sched_submit(q, &burst[i].r), 0);
    }
    fake_gate(&f, 0);
    for (int i = 0; i < 40; i++) {
        wait_done(&burst[i], 5000);
        treq_check(&burst[i]);
    }
    assert_int_equal(f.max_requests, 8);
    fg_sched_stop(q, 0);
}

/* One request's bad input fails only that request: a failed batch of several is rerun request by request. */
static void sched_failed_batch_fails_only_the_bad_request(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    f.fail_on_999 = 1;
    fg_sched_config c = base_config(8, 200000); /* 200 ms: the three queue up and run as one batch */
    fg_sched *q = start(&c, 1, &f);
    fake_gate(&f, 1);
    static treq busy, t[3];
    treq_init(&busy, 1, 1.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &busy.r), 0);
    fake_wait_entered(&f, 1);
    treq_init(&t[0], 2, 10.0f, 0, 0);
    treq_init(&t[1], 1, -1.0f, 0, 0); /* all 999: the bad one */
    treq_init(&t[2], 3, 20.0f, 0, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fg_sched_submit(q, &t[i].r), 0);
    fake_gate(&f, 0);
    wait_done(&busy, 5000);
    for (int i = 0; i < 3; i++)
        wait_done(&t[i], 5000);
    /* the busy batch, the failed batch of three, then each of the three alone */
    assert_int_equal(f.n_batches, 5);
    assert_int_equal(f.batch_items[1], 6);
    treq_check(&t[0]);
    treq_check(&t[2]);
    assert_int_equal(atomic_load(&t[1].n_done), 1);
    assert_int_equal(t[1].status, FG_EINVAL);
    fg_sched_stop(q, 0);
}

static void sched_splits_large_request_and_reassembles_in_order(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(4, 1000);
    fg_sched *q = start(&c, 2, &f);
    static treq t;
    treq_init(&t, 10, 0.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &t.r), 0);
    wait_done(&t, 2000);
    fg_sched_stop(q, 0);
    treq_check(&t);
    int64_t total = 0;
    for (int b = 0; b < f.n_batches; b++) {
        assert_true(f.batch_items[b] <= 4);
        total += f.batch_items[b];
    }
    assert_int_equal(total, 10);
    assert_true(f.n_batches >= 3);
}

/* ---- queue policy ---- */
static void sched_full_queue_rejects_at_once(void **state) {
    (void)state;
    fg_sched_config c = base_config(4, 1000);
    c.max_queue_size = 2;
    fg_err e = {0};
    fg_sched *q = fg_sched_new(&c, &e); /* not started: nothing drains */
    assert_non_null(q);
    static treq t[3];
    for (int i = 0; i < 3; i++)
        treq_init(&t[i], 1, (float)i, 0, 0);
    assert_int_equal(fg_sched_submit(q, &t[0].r), 0);
    assert_int_equal(fg_sched_submit(q, &t[1].r), 0);
    assert_int_equal(fg_sched_submit(q, &t[2].r), FG_SCHED_EFULL);
    fg_sched_stats st;
    fg_sched_stats_get(q, &st, NULL, 0);
    assert_int_equal(st.queued_requests, 2);
    assert_int_equal(st.n_rejected, 1);
    fg_sched_stop(q, 0);
    assert_int_equal(atomic_load(&t[0].n_done), 1);
    assert_int_equal(t[0].status, FG_SCHED_ESTOPPED);
    assert_int_equal(atomic_load(&t[2].n_done), 0);
}

static void sched_request_timeout_expires_while_queued_without_running(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fake_gate(&f, 1);
    fg_sched_config c = base_config(1, 0);
    c.allow_timeout_override = 1;
    fg_sched *q = start(&c, 1, &f);
    static treq a, b;
    treq_init(&a, 1, 1.0f, 0, 0);
    treq_init(&b, 1, -1.0f, 0, 30000); /* 30 ms, values 999 */
    assert_int_equal(fg_sched_submit(q, &a.r), 0);
    fake_wait_entered(&f, 1); /* a holds the only instance */
    assert_int_equal(fg_sched_submit(q, &b.r), 0);
    wait_done(&b, 2000); /* fires while the instance is still blocked */
    assert_int_equal(atomic_load(&b.n_done), 1);
    assert_int_equal(b.status, FG_SCHED_ETIMEDOUT);
    assert_true(b.done_ns - b.r.enqueue_ns_ >= 30000000ull);
    fake_gate(&f, 0);
    fg_sched_stop(q, 0);
    treq_check(&a);
    assert_int_equal(f.seen_999, 0);
    assert_int_equal(f.n_batches, 1);
}

static void sched_higher_priority_submitted_later_runs_first(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fake_gate(&f, 1);
    fg_sched_config c = base_config(1, 0);
    c.priority_levels = 3;
    fg_sched *q = start(&c, 1, &f);
    static treq a, low, mid, high;
    treq_init(&a, 1, 1.0f, 0, 0);
    treq_init(&low, 1, 30.0f, 3, 0);
    treq_init(&mid, 1, 20.0f, 2, 0);
    treq_init(&high, 1, 10.0f, 1, 0);
    assert_int_equal(fg_sched_submit(q, &a.r), 0);
    fake_wait_entered(&f, 1);
    assert_int_equal(fg_sched_submit(q, &low.r), 0);
    assert_int_equal(fg_sched_submit(q, &mid.r), 0);
    assert_int_equal(fg_sched_submit(q, &high.r), 0);
    static treq bad;
    treq_init(&bad, 1, 0.0f, 4, 0);
    assert_int_equal(fg_sched_submit(q, &bad.r), FG_EINVAL);
    fake_gate(&f, 0);
    fg_sched_stop(q, 0);
    assert_int_equal(f.n_batches, 4);
    assert_true(f.first_value[1] == 10.0f);
    assert_true(f.first_value[2] == 20.0f);
    assert_true(f.first_value[3] == 30.0f);
    treq_check(&low);
    treq_check(&high);
}

static void sched_two_instances_run_concurrently_with_own_buffers(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fake_gate(&f, 1);
    fg_sched_config c = base_config(2, 0);
    fg_sched *q = start(&c, 2, &f);
    static treq a, b;
    treq_init(&a, 2, 1.0f, 0, 0);
    treq_init(&b, 2, 100.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &a.r), 0);
    assert_int_equal(fg_sched_submit(q, &b.r), 0);
    fake_wait_entered(&f, 2); /* both running at once */
    assert_int_equal(f.max_running, 2);
    assert_int_not_equal(f.batch_instance[0], f.batch_instance[1]);
    assert_ptr_not_equal(f.batch_ptr[0], f.batch_ptr[1]);
    fake_gate(&f, 0);
    wait_done(&a, 2000);
    wait_done(&b, 2000);
    uint64_t busy[2];
    fg_sched_stats st;
    fg_sched_stats_get(q, &st, busy, 2);
    assert_int_equal(st.n_batches, 2);
    assert_int_equal(st.n_completed, 2);
    assert_true(busy[0] > 0 && busy[1] > 0);
    fg_sched_stop(q, 0);
    treq_check(&a);
    treq_check(&b);
}

typedef struct stop_arg {
    fg_sched *q;
    uint64_t deadline_ns;
} stop_arg;

static void *stop_thread(void *arg) {
    stop_arg *a = arg;
    fg_sched_stop(a->q, a->deadline_ns);
    return NULL;
}

static void sched_stop_drains_admitted_and_rejects_new(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fake_gate(&f, 1);
    fg_sched_config c = base_config(8, 5000000); /* long delay: stop must not wait for it */
    fg_sched *q = start(&c, 1, &f);
    static treq t[20], extra;
    for (int i = 0; i < 20; i++) {
        treq_init(&t[i], 1 + i % 2, (float)(i * 10), 0, 0);
        assert_int_equal(fg_sched_submit(q, &t[i].r), 0);
    }
    treq_init(&extra, 1, 5.0f, 0, 0);
    t[19].resubmit_q = q;
    t[19].resubmit = &extra;
    pthread_t th;
    stop_arg sa = {q, 0};
    pthread_create(&th, NULL, stop_thread, &sa);
    fake_wait_entered(&f, 1);
    for (;;) {
        fg_sched_stats st;
        fg_sched_stats_get(q, &st, NULL, 0);
        if (st.stopping)
            break;
        sleep_us(1000);
    }
    fake_gate(&f, 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 20; i++)
        treq_check(&t[i]);
    assert_int_equal(t[19].resubmit_rc, FG_SCHED_ESTOPPED);
    assert_int_equal(atomic_load(&extra.n_done), 0);
}

static void sched_stop_deadline_fails_queued_requests_not_running(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fake_gate(&f, 1);
    fg_sched_config c = base_config(1, 0);
    fg_sched *q = start(&c, 1, &f);
    static treq a, b;
    treq_init(&a, 1, 1.0f, 0, 0);
    treq_init(&b, 1, -1.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &a.r), 0);
    fake_wait_entered(&f, 1);
    assert_int_equal(fg_sched_submit(q, &b.r), 0);
    stop_arg sa = {q, fg_now_ns() + 20000000ull};
    pthread_t th;
    pthread_create(&th, NULL, stop_thread, &sa);
    wait_done(&b, 2000); /* fired by the stop deadline while a still runs */
    assert_int_equal(b.status, FG_SCHED_ESTOPPED);
    fake_gate(&f, 0);
    pthread_join(th, NULL);
    treq_check(&a); /* the running batch always finishes */
    assert_int_equal(f.seen_999, 0);
}

/* Regression: a preferred size smaller than the head request (which is never split) aborted. */
static void sched_preferred_size_smaller_than_head_request_still_runs(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(8, 5000000);
    c.preferred_batch_sizes[0] = 4;
    c.n_preferred = 1;
    fg_sched *q = start(&c, 1, &f);
    static treq t;
    treq_init(&t, 6, 3.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &t.r), 0);
    wait_done(&t, 2000);
    treq_check(&t);
    assert_int_equal(f.batch_items[0], 6);
    fg_sched_stop(q, 0);
}

static void sched_allocation_failure_fails_the_batch_requests(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(4, 0);
    fg_sched *q = start(&c, 1, &f);
    static treq a, big, ok;
    treq_init(&a, 2, 1.0f, 0, 0);
    fg_sched_test_fail_allocs(1); /* the first batch buffer */
    assert_int_equal(fg_sched_submit(q, &a.r), 0);
    wait_done(&a, 2000);
    assert_int_equal(atomic_load(&a.n_done), 1);
    assert_int_equal(a.status, FG_ENOMEM);
    assert_int_equal(f.n_batches, 0);
    treq_init(&big, 6, 1.0f, 0, 0);
    fg_sched_test_fail_allocs(1); /* buffer sized by now: this hits the reassembly block */
    assert_int_equal(fg_sched_submit(q, &big.r), 0);
    wait_done(&big, 2000);
    assert_int_equal(atomic_load(&big.n_done), 0 + 1);
    assert_int_equal(big.status, FG_ENOMEM);
    fg_sched_test_fail_allocs(0);
    treq_init(&ok, 3, 7.0f, 0, 0);
    assert_int_equal(fg_sched_submit(q, &ok.r), 0);
    fg_sched_stop(q, 0);
    treq_check(&ok);
    assert_int_equal(atomic_load(&big.n_done), 1);
}

static void sched_without_batching_passes_tensors_through(void **state) {
    (void)state;
    static fake f;
    fake_init(&f);
    fg_sched_config c = base_config(0, 1000000);
    fg_sched *q = start(&c, 1, &f);
    static treq t[3];
    for (int i = 0; i < 3; i++) {
        treq_init(&t[i], 3, (float)(i * 10), 0, 0);
        t[i].r.n_items = 0; /* ignored without batching */
        assert_int_equal(fg_sched_submit(q, &t[i].r), 0);
    }
    fg_sched_stop(q, 0);
    assert_int_equal(f.n_batches, 3);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(f.batch_ptr[i], t[i].x); /* no copy */
        assert_int_equal(t[i].status, 0);
        assert_int_equal(t[i].out_items, 3);
        for (int k = 0; k < 3 * COLS; k++)
            assert_true(t[i].y[k] == t[i].x[k] * 2.0f);
    }
}

static void sched_rejects_bad_config_and_bad_requests(void **state) {
    (void)state;
    fg_err e = {0};
    fg_sched_config c = base_config(4, 0);
    c.preferred_batch_sizes[0] = 5;
    c.n_preferred = 1;
    assert_null(fg_sched_new(&c, &e));
    assert_int_equal(e.code, FG_EINVAL);
    c = base_config(4, 0);
    c.n_outputs = 0;
    assert_null(fg_sched_new(&c, NULL));
    c = base_config(4, 0);
    fg_sched *q = fg_sched_new(&c, NULL);
    assert_non_null(q);
    static treq t;
    treq_init(&t, 2, 0.0f, 0, 0);
    t.in.dims[0] = 3; /* disagrees with n_items */
    assert_int_equal(fg_sched_submit(q, &t.r), FG_ESHAPE);
    treq_init(&t, 2, 0.0f, 0, 0);
    t.in.dtype = FG_STRING;
    assert_int_equal(fg_sched_submit(q, &t.r), FG_ESHAPE);
    treq_init(&t, 2, 0.0f, 2, 0); /* one priority level only */
    assert_int_equal(fg_sched_submit(q, &t.r), FG_EINVAL);
    fg_sched_stop(q, 0);
    assert_int_equal(atomic_load(&t.n_done), 0);
    assert_string_equal(fg_sched_strerror(FG_SCHED_EFULL), "queue full");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sched_concurrent_submitters_each_complete_once_with_own_outputs),
        cmocka_unit_test(sched_preferred_size_closes_batch_without_delay),
        cmocka_unit_test(sched_oldest_request_delay_closes_partial_batch),
        cmocka_unit_test(sched_adaptive_delay_runs_lone_requests_at_once_and_batches_streams),
        cmocka_unit_test(sched_failed_batch_fails_only_the_bad_request),
        cmocka_unit_test(sched_splits_large_request_and_reassembles_in_order),
        cmocka_unit_test(sched_full_queue_rejects_at_once),
        cmocka_unit_test(sched_request_timeout_expires_while_queued_without_running),
        cmocka_unit_test(sched_higher_priority_submitted_later_runs_first),
        cmocka_unit_test(sched_two_instances_run_concurrently_with_own_buffers),
        cmocka_unit_test(sched_stop_drains_admitted_and_rejects_new),
        cmocka_unit_test(sched_stop_deadline_fails_queued_requests_not_running),
        cmocka_unit_test(sched_preferred_size_smaller_than_head_request_still_runs),
        cmocka_unit_test(sched_allocation_failure_fails_the_batch_requests),
        cmocka_unit_test(sched_without_batching_passes_tensors_through),
        cmocka_unit_test(sched_rejects_bad_config_and_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
