/**
 * Fréchet distance between two sets of feature vectors, each summarised by a Gaussian (mean and
 * covariance), as in FID (Heusel et al., 2017):
 *
 *   FD = ‖μ₁ − μ₂‖² + tr(C₁) + tr(C₂) − 2·tr( (C₁^{1/2} C₂ C₁^{1/2})^{1/2} )
 *
 * The last trace equals tr((C₁C₂)^{1/2}) but is computed on a symmetric positive semi-definite
 * matrix, so a symmetric eigendecomposition (ml-matrix's EVD, JAMA's tred2/tql2) gives it exactly:
 * C₁^{1/2} = V diag(√λ) Vᵀ, then tr(M^{1/2}) = Σ √λᵢ(M). Eigenvalues that round-off makes slightly
 * negative are clamped to 0. All arithmetic is float64.
 *
 * Covariances are the unbiased (n − 1) estimates, as numpy's `np.cov` in the reference FID code.
 * FD is biased upward for finite samples, so compare only distances computed with the same sample
 * sizes (wganx eval does: the reference uses as many training digits as generated ones).
 *
 * @example
 *   const a = featureMoments(featuresA, nA, 128);
 *   const b = featureMoments(featuresB, nB, 128);
 *   frechetDistance(a, b) // ≥ 0
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { InvalidArgumentError } from '../core/errors.js';

/** Mean and covariance of a set of d-dimensional vectors (float64, covariance row-major d×d). */
export interface Moments {
  dim: number;
  count: number;
  mean: Float64Array;
  cov: Float64Array;
}

/** Mean and unbiased covariance of `count` row-major vectors of length `dim`. */
export function featureMoments(features: ArrayLike<number>, count: number, dim: number): Moments {
  if (!Number.isInteger(dim) || dim < 1) throw new InvalidArgumentError('dim', dim, 'a positive integer');
  if (!Number.isInteger(count) || count < 2) throw new InvalidArgumentError('count', count, 'an integer ≥ 2 (a covariance needs two vectors)');
  if (features.length !== count * dim) throw new InvalidArgumentError('features.length', features.length, `count·dim = ${count * dim}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    // Upper triangle only; mirrored below.
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const base = a * dim;
      for (let b = a; b < dim; b++) cov[base + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  for (let j = 0; j < dim; j++) if (!Number.isFinite(mean[j])) throw new InvalidArgumentError('features', 'non-finite values', 'finite numbers');
  return { dim, count, mean, cov };
}

function toMatrix(values: Float64Array, dim: number): Matrix {
  const rows: number[][] = [];
  for (let i = 0; i < dim; i++) rows.push(Array.from(values.subarray(i * dim, (i + 1) * dim)));
  return new Matrix(rows);
}

/** Eigenvalues (ascending or not) of a symmetric matrix. */
function symmetricEigen(m: Matrix): { values: number[]; vectors: Matrix } {
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  return { values: evd.realEigenvalues, vectors: evd.eigenvectorMatrix };
}

/** Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clamped). */
function sqrtPsd(m: Matrix): Matrix {
  const { values, vectors } = symmetricEigen(m);
  const scaled = vectors.clone();
  for (let j = 0; j < values.length; j++) {
    const s = Math.sqrt(Math.max(values[j], 0));
    for (let i = 0; i < scaled.rows; i++) scaled.set(i, j, scaled.get(i, j) * s);
  }
  return scaled.mmul(vectors.transpose());
}

/** The parts of the distance, for reports and tests. */
export interface FrechetParts {
  distance: number;
  meanTerm: number;
  traceTerm: number;
}

/** Fréchet distance between two Gaussians given by their moments (see module header). */
export function frechetParts(a: Pick<Moments, 'dim' | 'mean' | 'cov'>, b: Pick<Moments, 'dim' | 'mean' | 'cov'>): FrechetParts {
  if (a.dim !== b.dim) throw new InvalidArgumentError('b.dim', b.dim, `the same dimension as a (${a.dim})`);
  const d = a.dim;
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  let traces = 0;
  for (let j = 0; j < d; j++) traces += a.cov[j * d + j] + b.cov[j * d + j];
  const s1 = sqrtPsd(toMatrix(a.cov, d));
  const m = s1.mmul(toMatrix(b.cov, d)).mmul(s1);
  // Symmetrise against round-off before the symmetric solver.
  const sym = m.add(m.transpose()).mul(0.5);
  let traceSqrt = 0;
  for (const v of symmetricEigen(sym).values) traceSqrt += Math.sqrt(Math.max(v, 0));
  const traceTerm = traces - 2 * traceSqrt;
  // Round-off can push a true 0 a hair below; the distance is ≥ 0 by construction.
  const distance = Math.max(0, meanTerm + traceTerm);
  return { distance, meanTerm, traceTerm };
}

export function frechetDistance(a: Pick<Moments, 'dim' | 'mean' | 'cov'>, b: Pick<Moments, 'dim' | 'mean' | 'cov'>): number {
  return frechetParts(a, b).distance;
}
