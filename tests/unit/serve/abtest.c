/* Tests for src/serve/abtest.c: spec parsing, sticky weighted routing, the statistics against
 * hand-computed values, the bounded feedback ring, guardrails and the management bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/abtest.h"

#define S 1000000000ull

static void assert_near(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

/* ---- parsing ---- */

static void parse_versions_models_and_names(void **state) {
    (void)state;
    fg_ab_spec sp;
    fg_err e = {0};
    assert_int_equal(fg_ab_parse("digits=1:90,2:10", &sp, &e), 0);
    assert_string_equal(sp.model, "digits");
    assert_int_equal(sp.n, 2);
    assert_string_equal(sp.v[0].name, "v1");
    assert_string_equal(sp.v[0].model, "digits");
    assert_int_equal(sp.v[0].version, 1);
    assert_near(sp.v[0].weight, 90, 0);
    assert_string_equal(sp.v[1].name, "v2");
    assert_near(sp.v[1].weight, 10, 0);

    assert_int_equal(fg_ab_parse("digits=fp32@digits_mlp:50,cnn/3:50,B@7:0.5", &sp, &e), 0);
    assert_int_equal(sp.n, 3);
    assert_string_equal(sp.v[0].name, "fp32");
    assert_string_equal(sp.v[0].model, "digits_mlp");
    assert_int_equal(sp.v[0].version, 0); /* latest */
    assert_string_equal(sp.v[1].name, "cnn-v3");
    assert_string_equal(sp.v[1].model, "cnn");
    assert_int_equal(sp.v[1].version, 3);
    assert_string_equal(sp.v[2].name, "B");
    assert_string_equal(sp.v[2].model, "digits");
    assert_int_equal(sp.v[2].version, 7);
}

static void parse_rejects_bad_specs(void **state) {
    (void)state;
    const char *bad[] = {
        "digits",             /* no = */
        "=1:50,2:50",         /* no name */
        "digits=1:50",        /* one variant */
        "digits=1:50,1:50",   /* same variant twice */
        "digits=1,2:50",      /* no weight */
        "digits=1:-1,2:5",    /* negative */
        "digits=1:x,2:5",     /* not a number */
        "digits=1:0,2:0",     /* nothing takes traffic */
        "digits=1:5,2:5,",    /* trailing comma */
        "digits=m/0:5,2:5",   /* version 0 */
        "digits=a b:5,2:5",   /* bad character */
        "digits=1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,9:1", /* too many */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fg_ab_spec sp;
        fg_err e = {0};
        if (fg_ab_parse(bad[i], &sp, &e) != FG_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(e.msg[0] != 0);
    }
}

/* ---- routing ---- */

static void pick_ratio_within_tolerance(void **state) {
    (void)state;
    const double w[2] = {90, 10};
    int counts[2] = {0, 0};
    char id[32];
    const int N = 10000;
    for (int i = 0; i < N; i++) {
        int n = snprintf(id, sizeof id, "user-%d", i);
        counts[fg_ab_pick(w, 2, fg_ab_hash(id, (size_t)n))]++;
    }
    /* binomial sd = sqrt(10000 * 0.1 * 0.9) = 30: 4 sd is 120 */
    if (abs(counts[1] - 1000) > 120)
        fail_msg("variant B got %d of %d, expected 1000 +- 120", counts[1], N);

    const double w3[3] = {1, 1, 2};
    int c3[3] = {0, 0, 0};
    for (int i = 0; i < N; i++) {
        int n = snprintf(id, sizeof id, "%d", i); /* short, similar ids: the finalizer must spread them */
        c3[fg_ab_pick(w3, 3, fg_ab_hash(id, (size_t)n))]++;
    }
    /* expected 2500, 2500, 5000; sd <= 50 */
    assert_true(abs(c3[0] - 2500) < 200 && abs(c3[1] - 2500) < 200 && abs(c3[2] - 5000) < 200);
}

static void pick_edges(void **state) {
    (void)state;
    const double zero[2] = {0, 0}, only_b[2] = {0, 5}, only_a[3] = {5, 0, 0};
    for (uint64_t h = 0; h < 1000; h++) {
        uint64_t x = fg_ab_hash(&h, sizeof h);
        assert_int_equal(fg_ab_pick(zero, 2, x), 0); /* nothing weighted: the control */
        assert_int_equal(fg_ab_pick(only_b, 2, x), 1);
        assert_int_equal(fg_ab_pick(only_a, 3, x), 0);
    }
    assert_int_equal(fg_ab_pick(only_b, 2, UINT64_MAX), 1);
    assert_int_equal(fg_ab_pick(only_a, 3, UINT64_MAX), 0);
}

static fg_abset *new_set(fg_metrics *m, const char *spec, size_t ring, uint64_t min_fb, double slo_ms, double slo_s) {
    fg_ab_spec sp;
    fg_err e = {0};
    assert_int_equal(fg_ab_parse(spec, &sp, &e), 0);
    fg_ab_opts o = {.margin = 0.05, .min_feedback = min_fb, .slo_p99_ms = slo_ms, .slo_secs = slo_s,
                    .ring = ring, .window_s = 10, .no_thread = 1, .start_ns = 1, .metrics = m};
    fg_abset *s = fg_abset_new(&sp, 1, &o, &e);
    if (!s)
        fail_msg("fg_abset_new: %s", e.msg);
    return s;
}

static void route_sticky_and_weight_changes(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=a@1:50,b@2:50", 0, 0, 0, 0);
    fg_ab *t = fg_abset_find(s, "digits", 6);
    assert_non_null(t);
    assert_null(fg_abset_find(s, "digit", 5));
    int first[1000];
    char id[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof id, "u%d", i);
        first[i] = fg_ab_route(t, fg_ab_hash(id, (size_t)n));
    }
    for (int rep = 0; rep < 3; rep++) /* the same id always gets the same variant */
        for (int i = 0; i < 1000; i++) {
            int n = snprintf(id, sizeof id, "u%d", i);
            assert_int_equal(fg_ab_route(t, fg_ab_hash(id, (size_t)n)), first[i]);
        }
    /* 50/50 -> 75/25: only users of b move, to a; none of a moves */
    fg_err e = {0};
    const double w[2] = {75, 25};
    assert_int_equal(fg_ab_set_weights(t, w, &e), 0);
    int moved = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof id, "u%d", i);
        int now = fg_ab_route(t, fg_ab_hash(id, (size_t)n));
        if (first[i] == 0)
            assert_int_equal(now, 0);
        moved += now != first[i];
    }
    assert_true(moved > 150 && moved < 350); /* about a quarter of all users */
    /* promote b: everyone goes to b */
    assert_int_equal(fg_ab_promote(t, 1, &e), 0);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof id, "u%d", i);
        assert_int_equal(fg_ab_route(t, fg_ab_hash(id, (size_t)n)), 1);
    }
    const double bad[2] = {0, 0}, neg[2] = {-1, 5}, inf[2] = {INFINITY, 1};
    assert_int_equal(fg_ab_set_weights(t, bad, &e), FG_EINVAL);
    fg_err e2 = {0};
    assert_int_equal(fg_ab_set_weights(t, neg, &e2), FG_EINVAL);
    fg_err e3 = {0};
    assert_int_equal(fg_ab_set_weights(t, inf, &e3), FG_EINVAL);
    assert_near(fg_ab_weight(t, 1), 100, 0); /* refused changes leave the weights */
    /* the metric label of each version */
    assert_string_equal(fg_abset_variant_of(s, "digits", 1), "a");
    assert_string_equal(fg_abset_variant_of(s, "digits", 2), "b");
    assert_string_equal(fg_abset_variant_of(s, "digits", 3), "");
    assert_string_equal(fg_abset_variant_of(s, "other", 1), "");
    assert_string_equal(fg_abset_variant_of(NULL, "digits", 1), "");
    fg_abset_free(s);
    fg_metrics_free(m);
}

/* ---- statistics (hand-computed values) ---- */

static void wilson_matches_hand_computation(void **state) {
    (void)state;
    double lo, hi;
    /* 8/10, z 1.96: p=.8, z^2/n=.38416, centre=(.8+.19208)/1.38416=.716738,
     * half=1.96/1.38416*sqrt(.016+.009604)=.226581 -> [.490157, .943319] */
    fg_ab_wilson(8, 10, 1.96, &lo, &hi);
    assert_near(lo, 0.490157, 1e-5);
    assert_near(hi, 0.943319, 1e-5);
    /* 0/10: [0, z^2/(n+z^2)] = [0, 3.8416/13.8416 = .277540] */
    fg_ab_wilson(0, 10, 1.96, &lo, &hi);
    assert_near(lo, 0, 1e-12);
    assert_near(hi, 0.277540, 1e-5);
    /* 45/50: [.786395, .956525] */
    fg_ab_wilson(45, 50, 1.96, &lo, &hi);
    assert_near(lo, 0.786395, 1e-5);
    assert_near(hi, 0.956525, 1e-5);
    fg_ab_wilson(0, 0, 1.96, &lo, &hi); /* nothing known */
    assert_near(lo, 0, 0);
    assert_near(hi, 1, 0);
}

static void ztest_matches_hand_computation(void **state) {
    (void)state;
    double z, p;
    /* 90/100 vs 80/100: pooled .85, se=sqrt(.85*.15*.02)=.0504975, z=-.1/.0504975=-1.98030,
     * p=2*(1-Phi(1.9803))=.047670 */
    assert_int_equal(fg_ab_ztest(90, 100, 80, 100, &z, &p), 0);
    assert_near(z, -1.980295, 1e-5);
    assert_near(p, 0.047670, 1e-5);
    /* 45/50 vs 30/50: pooled .75, se=sqrt(.75*.25*.04)=.0866025, z=-.3/.0866025=-3.464102, p=.000532 */
    assert_int_equal(fg_ab_ztest(45, 50, 30, 50, &z, &p), 0);
    assert_near(z, -3.464102, 1e-5);
    assert_near(p, 0.000532006, 1e-8);
    /* better variant: positive z */
    assert_int_equal(fg_ab_ztest(30, 50, 45, 50, &z, &p), 0);
    assert_near(z, 3.464102, 1e-5);
    assert_int_equal(fg_ab_ztest(50, 100, 50, 100, &z, &p), 0);
    assert_near(z, 0, 1e-12);
    assert_near(p, 1, 1e-12);
    assert_int_equal(fg_ab_ztest(10, 10, 10, 10, &z, &p), -1); /* se 0 */
    assert_int_equal(fg_ab_ztest(0, 0, 1, 2, &z, &p), -1);
    assert_near(p, 1, 0);
}

static void verdicts_and_cost(void **state) {
    (void)state;
    char b[128];
    fg_ab_verdict(b, sizeof b, "B", "A", 50, 50, 1, -3.46, 0.000532);
    assert_string_equal(b, "B is worse than A (p=0.000532)");
    fg_ab_verdict(b, sizeof b, "B", "A", 50, 50, 1, 3.46, 0.003);
    assert_string_equal(b, "B is better than A (p=0.003)");
    fg_ab_verdict(b, sizeof b, "B", "A", 60, 60, 1, -1.2, 0.23);
    assert_string_equal(b, "no significant difference yet (n=120)");
    fg_ab_verdict(b, sizeof b, "B", "A", 5, 0, 0, 0, 1);
    assert_string_equal(b, "no feedback yet (n=5)");
    /* $3.6/h over 10 s = $0.01; this version did 1 of 4 busy seconds over 50 requests:
     * 1000 * 0.01 * 0.25 / 50 = $0.05 per 1k */
    assert_near(fg_ab_cost_per_1k(3.6, 10, 1, 4, 50), 0.05, 1e-12);
    assert_near(fg_ab_cost_per_1k(3.6, 10, 1, 0, 50), 0, 0);
    assert_near(fg_ab_cost_per_1k(3.6, 10, 1, 4, 0), 0, 0);
    assert_near(fg_ab_cost_per_1k(0, 10, 1, 4, 50), 0, 0);
}

/* ---- the feedback ring ---- */

static void ring_bounded_oldest_dropped(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=1:50,2:50", 8, 1000, 0, 0);
    fg_ab *t = fg_abset_at(s, 0);
    char id[32];
    for (int i = 0; i < 20; i++) {
        int n = snprintf(id, sizeof id, "r%d", i);
        fg_ab_record(t, i % 2, 1 * S, 1000, 1, id, (size_t)n, i % 10);
    }
    uint64_t pending, dropped;
    fg_ab_ring_stats(t, &pending, &dropped);
    assert_int_equal(pending, 8);  /* bounded by the ring */
    assert_int_equal(dropped, 12); /* the 12 oldest never got feedback */
    fg_err e = {0};
    assert_int_equal(fg_ab_feedback(t, "r0", 2, 1, 0, 0, NULL, &e), FG_ENOTFOUND); /* dropped */
    fg_err e2 = {0};
    assert_int_equal(fg_ab_feedback(t, "r11", 3, 1, 0, 0, NULL, &e2), FG_ENOTFOUND);
    assert_non_null(strstr(e2.msg, "r11"));
    int var = -1;
    fg_err e3 = {0};
    assert_int_equal(fg_ab_feedback(t, "r12", 3, 1, 2, 0, &var, &e3), 0); /* prediction 12 % 10 = 2: correct */
    assert_int_equal(var, 0);
    fg_err e4 = {0};
    assert_int_equal(fg_ab_feedback(t, "r12", 3, 1, 2, 0, NULL, &e4), FG_EFULL); /* one feedback each */
    fg_err e5 = {0};
    assert_int_equal(fg_ab_feedback(t, "r13", 3, 1, 9, 0, &var, &e5), 0); /* predicted 3: wrong */
    assert_int_equal(var, 1);
    fg_err e6 = {0};
    assert_int_equal(fg_ab_feedback(t, "r15", 3, 0, 0, 0.25, NULL, &e6), 0); /* a score */
    fg_err e7 = {0};
    assert_int_equal(fg_ab_feedback(t, "r17", 3, 0, 0, 1.5, NULL, &e7), FG_EINVAL);
    uint64_t fb;
    double correct;
    fg_ab_counts(t, 0, &fb, &correct);
    assert_int_equal(fb, 1);
    assert_near(correct, 1, 0);
    fg_ab_counts(t, 1, &fb, &correct);
    assert_int_equal(fb, 2);
    assert_near(correct, 0.25, 1e-12);
    fg_ab_ring_stats(t, &pending, &dropped);
    assert_int_equal(pending, 5);
    /* answered entries are overwritten without counting as dropped */
    for (int i = 20; i < 28; i++) {
        int n = snprintf(id, sizeof id, "r%d", i);
        fg_ab_record(t, 0, 2 * S, 1000, 1, id, (size_t)n, 1);
    }
    fg_ab_ring_stats(t, &pending, &dropped);
    assert_int_equal(pending, 8);
    assert_int_equal(dropped, 12 + 5);
    /* failed requests and requests without a prediction leave nothing */
    fg_ab_record(t, 0, 2 * S, 1000, 0, "x1", 2, 1);
    fg_ab_record(t, 0, 2 * S, 1000, 1, "x2", 2, -1);
    fg_err e8 = {0};
    assert_int_equal(fg_ab_feedback(t, "x1", 2, 1, 1, 0, NULL, &e8), FG_ENOTFOUND);
    fg_err e9 = {0};
    assert_int_equal(fg_ab_feedback(t, "x2", 2, 1, 1, 0, NULL, &e9), FG_ENOTFOUND);
    fg_abset_free(s);
    fg_metrics_free(m);
}

static void ring_reused_id_takes_newest(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=1:50,2:50", 16, 1000, 0, 0);
    fg_ab *t = fg_abset_at(s, 0);
    fg_ab_record(t, 0, S, 1, 1, "same", 4, 3);
    fg_ab_record(t, 1, S, 1, 1, "same", 4, 4);
    int var = -1;
    fg_err e = {0};
    assert_int_equal(fg_ab_feedback(t, "same", 4, 1, 4, 0, &var, &e), 0);
    assert_int_equal(var, 1);
    fg_err e2 = {0};
    assert_int_equal(fg_ab_feedback(t, "same", 4, 1, 4, 0, &var, &e2), FG_EFULL);
    fg_abset_free(s);
    fg_metrics_free(m);
}

/* ---- guardrails ---- */

static void accuracy_guard_rolls_back_once(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=A@1:50,B@2:50", 0, 20, 0, 0);
    fg_ab *t = fg_abset_at(s, 0);
    char id[32];
    /* A right 18 of 20, B right 6 of 20: z = (.3 - .9) / sqrt(.6*.4*.1) = -3.873, p = .000108 */
    for (int i = 0; i < 40; i++) {
        int n = snprintf(id, sizeof id, "q%d", i);
        fg_ab_record(t, i % 2, S, 1000, 1, id, (size_t)n, 5);
    }
    for (int i = 0; i < 40; i++) {
        int n = snprintf(id, sizeof id, "q%d", i);
        int right = i % 2 == 0 ? i / 2 < 18 : i / 2 < 6;
        fg_err e = {0};
        assert_int_equal(fg_ab_feedback(t, id, (size_t)n, 1, right ? 5 : 1, 0, NULL, &e), 0);
        if (i < 38) /* 20 feedbacks each are needed first */
            assert_false(fg_ab_rolled_back(t, 1, NULL));
    }
    const char *why = NULL;
    assert_true(fg_ab_rolled_back(t, 1, &why));
    assert_string_equal(why, "accuracy");
    assert_false(fg_ab_rolled_back(t, 0, NULL));
    assert_near(fg_ab_weight(t, 1), 0, 0);
    assert_int_equal(fg_ab_check(t, 2 * S), 0); /* once */
    fg_metrics_buf b = {0};
    assert_int_equal(fg_metrics_write(m, &b), 0);
    assert_non_null(strstr(b.data, "frugal_abtest_rollbacks_total{model=\"digits\",variant=\"B\",reason=\"accuracy\"} 1\n"));
    assert_non_null(strstr(b.data, "frugal_abtest_weight{model=\"digits\",variant=\"B\"} 0\n"));
    fg_metrics_buf_free(&b);
    /* the report says so */
    fg_v2_buf j = {0};
    assert_int_equal(fg_ab_json(t, 2 * S, NULL, &j), 0);
    assert_non_null(strstr(j.ptr, "\"verdict\":\"B is worse than A (p=0.000108)\""));
    assert_non_null(strstr(j.ptr, "\"rolled_back\":true,\"rollback_reason\":\"accuracy\""));
    fg_v2_buf_free(&j);
    /* weights set again re-arm it */
    fg_err e = {0};
    const char *wb = "{\"weights\":{\"B\":10}}";
    assert_int_equal(fg_ab_apply_json(t, wb, strlen(wb), &e), 0);
    assert_false(fg_ab_rolled_back(t, 1, NULL));
    assert_near(fg_ab_weight(t, 0), 50, 0);
    assert_near(fg_ab_weight(t, 1), 10, 0);
    assert_int_equal(fg_ab_check(t, 3 * S), 1);
    assert_true(fg_ab_rolled_back(t, 1, NULL));
    /* promoted, B takes all traffic: the guard has nothing to fall back to and leaves it */
    fg_err e5 = {0};
    assert_int_equal(fg_ab_promote(t, 1, &e5), 0);
    assert_int_equal(fg_ab_check(t, 4 * S), 0);
    assert_false(fg_ab_rolled_back(t, 1, NULL));
    assert_near(fg_ab_weight(t, 1), 100, 0);
    fg_abset_free(s);
    fg_metrics_free(m);
}

static void accuracy_guard_respects_margin(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_ab_spec sp;
    fg_err e = {0};
    assert_int_equal(fg_ab_parse("d=1:1,2:1", &sp, &e), 0);
    /* a margin of 0.7: A 90 % vs B 30 % is significant but only 0.6 worse */
    fg_ab_opts o = {.margin = 0.7, .min_feedback = 10, .no_thread = 1, .start_ns = 1, .metrics = m};
    fg_abset *s = fg_abset_new(&sp, 1, &o, &e);
    assert_non_null(s);
    fg_ab *t = fg_abset_at(s, 0);
    char id[32];
    for (int i = 0; i < 40; i++) {
        int n = snprintf(id, sizeof id, "q%d", i);
        fg_ab_record(t, i % 2, S, 1000, 1, id, (size_t)n, 5);
        int right = i % 2 == 0 ? i / 2 < 18 : i / 2 < 6;
        assert_int_equal(fg_ab_feedback(t, id, (size_t)n, 1, right ? 5 : 1, 0, NULL, &e), 0);
    }
    assert_false(fg_ab_rolled_back(t, 1, NULL));
    fg_abset_free(s);
    fg_metrics_free(m);
}

static void latency_guard_needs_time_over_slo(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    /* SLO 5 ms for 3 s */
    fg_abset *s = new_set(m, "digits=1:50,2:50", 0, 0, 5, 3);
    fg_ab *t = fg_abset_at(s, 0);
    for (int i = 0; i < 20; i++) {
        fg_ab_record(t, 0, 10 * S, 1000000, 1, NULL, 0, -1);  /* control 1 ms */
        fg_ab_record(t, 1, 10 * S, 20000000, 1, NULL, 0, -1); /* B 20 ms */
    }
    assert_int_equal(fg_ab_check(t, 10 * S), 0); /* over since 10 s */
    assert_int_equal(fg_ab_check(t, 12 * S), 0);
    assert_false(fg_ab_rolled_back(t, 1, NULL));
    assert_int_equal(fg_ab_check(t, 13 * S), 1); /* 3 s over */
    const char *why = NULL;
    assert_true(fg_ab_rolled_back(t, 1, &why));
    assert_string_equal(why, "latency");
    assert_false(fg_ab_rolled_back(t, 0, NULL)); /* the control is never rolled back */
    fg_abset_free(s);

    /* a p99 that comes back under the SLO resets the clock */
    s = new_set(m, "other=1:50,2:50", 0, 0, 5, 3);
    t = fg_abset_at(s, 0);
    for (int i = 0; i < 20; i++)
        fg_ab_record(t, 1, 10 * S, 20000000, 1, NULL, 0, -1);
    assert_int_equal(fg_ab_check(t, 10 * S), 0);
    assert_int_equal(fg_ab_check(t, 25 * S), 0); /* the window (10 s) has emptied: under */
    for (int i = 0; i < 20; i++)
        fg_ab_record(t, 1, 26 * S, 20000000, 1, NULL, 0, -1);
    assert_int_equal(fg_ab_check(t, 26 * S), 0);
    assert_int_equal(fg_ab_check(t, 28 * S), 0);
    assert_false(fg_ab_rolled_back(t, 1, NULL));
    assert_int_equal(fg_ab_check(t, 29 * S), 1);
    fg_abset_free(s);
    fg_metrics_free(m);
}


/* abtest.json: options fill only what flags left at 0; a variant's own SLO guards it without a test-wide
 * one; bad per-variant SLOs are refused naming the key */
static void file_options_and_variant_slo(void **state) {
    (void)state;
    char path[] = "/tmp/fg_abtest_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"margin\": 0.1, \"slo_secs\": 3, \"header\": \"x-team\", \"tests\": {\"digits\": ["
                       "{\"variant\": \"a\", \"target\": 1, \"weight\": 50},"
                       "{\"variant\": \"b\", \"target\": \"2\", \"weight\": 50, \"slo_p99_ms\": 5}]}}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fg_ab_spec specs[2];
    size_t n = 0;
    char hdr[64];
    fg_metrics *m = fg_metrics_new();
    fg_ab_opts o = {.margin = 0.02, .window_s = 10, .no_thread = 1, .start_ns = 1, .metrics = m};
    fg_err e = {0};
    assert_int_equal(fg_ab_load_file(path, specs, &n, 2, &o, hdr, sizeof hdr, &e), 0);
    assert_int_equal(n, 1);
    assert_true(o.margin == 0.02); /* the flag's value wins */
    assert_true(o.slo_secs == 3 && o.slo_p99_ms == 0);
    assert_string_equal(o.header, "x-team");
    assert_true(specs[0].v[1].slo_p99_ms == 5 && specs[0].v[0].slo_p99_ms == 0);
    fg_abset *s = fg_abset_new(specs, 1, &o, &e);
    assert_non_null(s);
    fg_ab *t = fg_abset_at(s, 0);
    for (int i = 0; i < 20; i++)
        fg_ab_record(t, 1, 10 * S, 20000000, 1, NULL, 0, -1); /* b: 20 ms against its own 5 ms */
    assert_int_equal(fg_ab_check(t, 10 * S), 0);
    assert_int_equal(fg_ab_check(t, 13 * S), 1);
    const char *why = NULL;
    assert_true(fg_ab_rolled_back(t, 1, &why));
    assert_string_equal(why, "latency");
    fg_abset_free(s);
    /* a SLO on the control, and a non-number, are refused with the key */
    static const char *const bad[] = {
        "{\"tests\": {\"d\": [{\"target\": 1, \"weight\": 1, \"slo_p99_ms\": 5}, {\"target\": 2, \"weight\": 1}]}}",
        "{\"tests\": {\"d\": [{\"target\": 1, \"weight\": 1}, {\"target\": 2, \"weight\": 1, \"slo_p99_ms\": \"5\"}]}}",
    };
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        fg_err_clear(&e);
        n = 0;
        fg_ab_opts o2 = {0};
        assert_int_equal(fg_ab_load_file(path, specs, &n, 2, &o2, hdr, sizeof hdr, &e), FG_EINVAL);
        assert_non_null(strstr(e.msg, i == 0 ? "tests.d[0].slo_p99_ms: the control" : "tests.d[1].slo_p99_ms: want"));
        assert_int_equal(n, 0);
    }
    unlink(path);
    fg_metrics_free(m);
}

/* ---- bodies ---- */

static void feedback_and_management_bodies(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=A@1:50,B@2:50", 0, 0, 0, 0);
    fg_ab *t = fg_abset_at(s, 0);
    fg_ab_record(t, 1, S, 1000, 1, "req-1", 5, 7);
    const char *bad[] = {"", "not json", "[]", "{\"label\":1}", "{\"id\":\"\",\"label\":1}", "{\"id\":5,\"label\":1}",
                         "{\"id\":\"req-1\"}", "{\"id\":\"req-1\",\"label\":1,\"score\":1}",
                         "{\"id\":\"req-1\",\"label\":-1}", "{\"id\":\"req-1\",\"label\":1.5}",
                         "{\"id\":\"req-1\",\"label\":\"7\"}", "{\"id\":\"req-1\",\"score\":2}",
                         "{\"id\":\"req-1\",\"score\":true}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fg_err e = {0};
        if (fg_ab_feedback_json(t, bad[i], strlen(bad[i]), NULL, &e) != FG_EINVAL)
            fail_msg("feedback '%s' was not refused as malformed", bad[i]);
    }
    fg_err e = {0};
    const char *unk = "{\"id\":\"req-2\",\"label\":7}";
    assert_int_equal(fg_ab_feedback_json(t, unk, strlen(unk), NULL, &e), FG_ENOTFOUND);
    const char *good = "{\"id\":\"req-1\",\"label\":7}";
    int var = -1;
    fg_err e2 = {0};
    assert_int_equal(fg_ab_feedback_json(t, good, strlen(good), &var, &e2), 0);
    assert_int_equal(var, 1);

    const char *mbad[] = {"", "{}", "{\"weights\":{}}", "{\"weights\":{\"C\":1}}", "{\"weights\":{\"A\":\"1\"}}",
                          "{\"weights\":{\"A\":0,\"B\":0}}", "{\"weights\":{\"A\":-1}}", "{\"promote\":\"C\"}",
                          "{\"promote\":1}", "{\"promote\":\"A\",\"weights\":{\"A\":1}}", "{\"weights\":[1,2]}"};
    for (size_t i = 0; i < sizeof mbad / sizeof *mbad; i++) {
        fg_err me = {0};
        if (fg_ab_apply_json(t, mbad[i], strlen(mbad[i]), &me) != FG_EINVAL)
            fail_msg("management body '%s' was accepted", mbad[i]);
        assert_near(fg_ab_weight(t, 0), 50, 0);
        assert_near(fg_ab_weight(t, 1), 50, 0);
    }
    fg_err e3 = {0};
    const char *prom = "{\"promote\":\"B\"}";
    assert_int_equal(fg_ab_apply_json(t, prom, strlen(prom), &e3), 0);
    assert_near(fg_ab_weight(t, 0), 0, 0);
    assert_near(fg_ab_weight(t, 1), 100, 0);
    fg_err e4 = {0};
    const char *w9010 = "{\"weights\":{\"A\":90,\"B\":10}}";
    assert_int_equal(fg_ab_apply_json(t, w9010, strlen(w9010), &e4), 0);
    assert_near(fg_ab_weight(t, 0), 90, 0);
    assert_near(fg_ab_weight(t, 1), 10, 0);
    fg_abset_free(s);
    fg_metrics_free(m);
}

static void set_rejects_bad_options(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_ab_spec sp[2];
    fg_err e = {0};
    assert_int_equal(fg_ab_parse("d=1:1,2:1", &sp[0], &e), 0);
    assert_int_equal(fg_ab_parse("d=1:1,3:1", &sp[1], &e), 0);
    fg_ab_opts o = {.metrics = m, .no_thread = 1};
    assert_null(fg_abset_new(sp, 2, &o, &e)); /* two tests of one name */
    assert_non_null(strstr(e.msg, "two A/B tests"));
    fg_ab_opts bad_hdr = {.metrics = m, .no_thread = 1, .header = "x user"};
    fg_err e2 = {0};
    assert_null(fg_abset_new(sp, 1, &bad_hdr, &e2));
    fg_ab_opts bad_margin = {.metrics = m, .no_thread = 1, .margin = 2};
    fg_err e3 = {0};
    assert_null(fg_abset_new(sp, 1, &bad_margin, &e3));
    /* the guard thread starts and is joined */
    fg_ab_opts thr = {.metrics = m, .tick_ms = 5, .header = "X-Tenant"};
    fg_err e4 = {0};
    fg_abset *s = fg_abset_new(sp, 1, &thr, &e4);
    assert_non_null(s);
    assert_string_equal(fg_ab_header(fg_abset_at(s, 0)), "x-tenant");
    fg_abset_free(s);
    fg_metrics_free(m);
}

/* ---- threads ---- */

typedef struct worker {
    fg_ab *t;
    int base;
    int fed;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    char id[32];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof id, "t%d-%d", w->base, i);
        int var = fg_ab_route(w->t, fg_ab_hash(id, (size_t)n));
        fg_ab_record(w->t, var, S, 1000, 1, id, (size_t)n, i % 10);
        if (i % 2 == 0) {
            fg_err e = {0};
            if (fg_ab_feedback(w->t, id, (size_t)n, 1, i % 10, 0, NULL, &e) == 0)
                w->fed++;
        }
        if (i % 500 == 0) {
            fg_v2_buf b = {0};
            fg_ab_json(w->t, S, NULL, &b);
            fg_v2_buf_free(&b);
            fg_ab_check(w->t, S);
        }
    }
    return NULL;
}

/* Routing, recording, feedback, reports and checks from several threads lose nothing. */
static void concurrent_use_counts_exactly(void **state) {
    (void)state;
    fg_metrics *m = fg_metrics_new();
    fg_abset *s = new_set(m, "digits=1:50,2:50", 0, 0, 0, 0);
    fg_ab *t = fg_abset_at(s, 0);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){t, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    uint64_t fb0, fb1, pending, dropped;
    double c0, c1;
    fg_ab_counts(t, 0, &fb0, &c0);
    fg_ab_counts(t, 1, &fb1, &c1);
    assert_int_equal(w[0].fed + w[1].fed + w[2].fed + w[3].fed, 4000);
    assert_int_equal(fb0 + fb1, 4000);
    assert_near(c0 + c1, 4000, 0);
    fg_ab_ring_stats(t, &pending, &dropped);
    assert_int_equal(pending, 4000);
    assert_int_equal(dropped, 0);
    fg_abset_free(s);
    fg_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_versions_models_and_names),
        cmocka_unit_test(parse_rejects_bad_specs),
        cmocka_unit_test(pick_ratio_within_tolerance),
        cmocka_unit_test(pick_edges),
        cmocka_unit_test(route_sticky_and_weight_changes),
        cmocka_unit_test(wilson_matches_hand_computation),
        cmocka_unit_test(ztest_matches_hand_computation),
        cmocka_unit_test(verdicts_and_cost),
        cmocka_unit_test(ring_bounded_oldest_dropped),
        cmocka_unit_test(ring_reused_id_takes_newest),
        cmocka_unit_test(accuracy_guard_rolls_back_once),
        cmocka_unit_test(accuracy_guard_respects_margin),
        cmocka_unit_test(latency_guard_needs_time_over_slo),
        cmocka_unit_test(file_options_and_variant_slo),
        cmocka_unit_test(feedback_and_management_bodies),
        cmocka_unit_test(set_rejects_bad_options),
        cmocka_unit_test(concurrent_use_counts_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
