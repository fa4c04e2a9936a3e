// A real FFT of power-of-two length in double precision, for the partitioned convolver.
//
// Eigen's bundled kissfft costs ~14 us for a forward + inverse pair of 512 points on the benchmark machine
// (~55 ns per output sample of a 256-sample partition, more than a 1000-tap direct FIR); FFTW is GPL and
// pffft is not in Debian. This one packs the N real samples into N/2 complex ones (even samples real, odd
// imaginary), runs an iterative radix-2 decimation-in-time FFT on split real/imaginary arrays (so the
// butterflies of each stage are one contiguous loop the compiler vectorises), and separates the two
// half-length spectra:
//
//     X[k] = E[k] + W^k O[k],  E[k] = (Z[k] + Z*[M-k]) / 2,  O[k] = (Z[k] - Z*[M-k]) / 2i,  W = exp(-2 pi i / N)
//
// with Z the FFT of the packed sequence, M = N/2. The inverse runs the same steps backwards and is unscaled:
// inverse(forward(x)) = N x. Twiddles come from std::cos / std::sin of each index (no recurrence), so the
// error stays at a few ulps times log2(N).
#pragma once

#include <cmath>
#include <stdexcept>
#include <vector>

namespace ddsp_kit {

class RealFft {
public:
    // Plan for `n` points, a power of two >= 4 (allocates).
    void prepare(int n) {
        if (n < 4 || (n & (n - 1))) throw std::invalid_argument("RealFft: the length must be a power of two >= 4");
        m_ = n / 2;
        constexpr double kTwoPi = 6.28318530717958647692;
        reverse_.resize(m_);
        int bits = 0;
        while ((1 << bits) < m_) ++bits;
        for (int i = 0; i < m_; ++i) {
            int r = 0;
            for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
            reverse_[i] = r;
        }
        // Stage with butterfly span h (h = 4, 8, ..., M/2) reads its h twiddles exp(-i pi j / h) at offset h.
        stageCos_.assign(m_, 0.0), stageSin_.assign(m_, 0.0);
        for (int h = 4; h < m_; h *= 2)
            for (int j = 0; j < h; ++j) stageCos_[h + j] = std::cos(kTwoPi * j / (2 * h)), stageSin_[h + j] = -std::sin(kTwoPi * j / (2 * h));
        splitCos_.resize(m_ + 1), splitSin_.resize(m_ + 1);
        for (int k = 0; k <= m_; ++k) splitCos_[k] = std::cos(kTwoPi * k / n), splitSin_[k] = -std::sin(kTwoPi * k / n);
        re_.assign(m_, 0.0), im_.assign(m_, 0.0);
    }

    // Spectrum of x[0..N): re[k], im[k] for k = 0..N/2.
    void forward(const double* x, double* re, double* im) noexcept {
        for (int i = 0; i < m_; ++i) re_[reverse_[i]] = x[2 * i], im_[reverse_[i]] = x[2 * i + 1];
        transform(re_.data(), im_.data());
        re[0] = re_[0] + im_[0], im[0] = 0.0;
        re[m_] = re_[0] - im_[0], im[m_] = 0.0;
        for (int k = 1; k < m_; ++k) {
            const double ar = re_[k], ai = im_[k], br = re_[m_ - k], bi = -im_[m_ - k];  // Z[k], Z*[M-k]
            const double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);                      // E[k]
            const double or_ = 0.5 * (ai - bi), oi = -0.5 * (ar - br);                    // O[k] = (Z - Z*) / 2i
            const double wr = splitCos_[k], wi = splitSin_[k];
            re[k] = er + wr * or_ - wi * oi, im[k] = ei + wr * oi + wi * or_;
        }
    }
    // x[0..N) = N * (inverse DFT of the Hermitian spectrum re, im of k = 0..N/2); may not alias re or im.
    void inverse(const double* re, const double* im, double* x) noexcept {
        // 2 Z[k] = (X[k] + X*[M-k]) + i W^-k (X[k] - X*[M-k]), conjugated so that the forward transform inverts.
        for (int k = 0; k < m_; ++k) {
            const double ar = re[k], ai = im[k], br = re[m_ - k], bi = -im[m_ - k];
            const double sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
            const double wr = splitCos_[k], wi = -splitSin_[k];  // W^-k
            const double tr = wr * dr - wi * di, ti = wr * di + wi * dr;
            re_[reverse_[k]] = sr - ti, im_[reverse_[k]] = -(si + tr);
        }
        transform(re_.data(), im_.data());
        for (int i = 0; i < m_; ++i) x[2 * i] = re_[i], x[2 * i + 1] = -im_[i];
    }

private:
    // In-place complex FFT of M points whose input is in bit-reversed order: a radix-4 first pass (spans 1
    // and 2, whose twiddles are 1 and -i), then radix-2 stages of span 4 .. M/2 with contiguous twiddles.
    void transform(double* re, double* im) const noexcept {
        if (m_ == 2) {
            const double r = re[1], i = im[1];
            re[1] = re[0] - r, im[1] = im[0] - i, re[0] += r, im[0] += i;
            return;
        }
        for (int b = 0; b < m_; b += 4) {
            const double r0 = re[b] + re[b + 1], i0 = im[b] + im[b + 1], r1 = re[b] - re[b + 1], i1 = im[b] - im[b + 1];
            const double r2 = re[b + 2] + re[b + 3], i2 = im[b + 2] + im[b + 3], r3 = re[b + 2] - re[b + 3], i3 = im[b + 2] - im[b + 3];
            re[b] = r0 + r2, im[b] = i0 + i2, re[b + 2] = r0 - r2, im[b + 2] = i0 - i2;
            re[b + 1] = r1 + i3, im[b + 1] = i1 - r3, re[b + 3] = r1 - i3, im[b + 3] = i1 + r3;  // -i (r3 + i i3)
        }
        for (int h = 4; h < m_; h *= 2)
            for (int b = 0; b < m_; b += 2 * h) butterflies(re + b, im + b, re + b + h, im + b + h, stageCos_.data() + h, stageSin_.data() + h, h);
    }
    // One stage's butterflies of span h: (a, b) -> (a + w b, a - w b), as a free loop over restrict pointers
    // (inside the stage loops GCC does not vectorise it).
    static void butterflies(double* __restrict ar, double* __restrict ai, double* __restrict br, double* __restrict bi,
                            const double* __restrict wc, const double* __restrict ws, int h) noexcept {
        for (int j = 0; j < h; ++j) {
            const double tr = wc[j] * br[j] - ws[j] * bi[j], ti = wc[j] * bi[j] + ws[j] * br[j];
            br[j] = ar[j] - tr, bi[j] = ai[j] - ti, ar[j] += tr, ai[j] += ti;
        }
    }

    int m_ = 0;
    std::vector<int> reverse_;
    std::vector<double> stageCos_, stageSin_, splitCos_, splitSin_, re_, im_;
};

}  // namespace ddsp_kit
