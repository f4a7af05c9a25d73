// Client-level DP row operations on a stacked update matrix D [m, P]: one row per sampled client
// (m sampled clients, P parameters per model), D_i = Δ_i = y_i − x (local model minus global model).
//
// A DP-FedAvg / DP-FedSAM round (McMahan et al. 2018, arXiv 1710.06963; Shi et al. CVPR 2023, arXiv
// 2303.11242, Alg. 1) applies, per row:
//   [sparsify]  Δ_i ← top_k(Δ_i) or rand_k(Δ_i)          (DP-FedSAM-top_k, Fed-SMP; optional)
//   clip        Δ_i ← Δ_i · min(1, C/‖Δ_i‖₂)             (global; or per tensor, see clip_rows)
//   noise       Δ̃_i = Δ_i + N(0, (σC/√m)² I)              (on the client, before upload)
// and the server averages: x ← x + (1/m) Σ_i Δ̃_i. The average carries noise of std σC/m, exactly the
// Gaussian mechanism with multiplier σ on the sum (sensitivity C), which is what the accountant accounts.
// Noise is drawn per client from the addressed stream (seed, "dp_noise", client, round), so it does not
// depend on row order, batching or thread count, and a resumed run replays it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace plexus::privacy {

/// One parameter tensor's columns in the flat layout: D[:, offset : offset+numel].
struct Segment {
  int64_t offset = 0;
  int64_t numel = 0;
};

/// Clips every row of D in place and returns the pre-clip L2 norms of the rows (whole row).
/// Global (segments empty): D_i ← D_i · min(1, C/‖D_i‖), so ‖D_i‖ ≤ C — the sensitivity the accountant
/// assumes. Per-tensor (segments = each tensor's columns): every segment is clipped to C on its own, as the
/// DP-FedSAM reference code does; a row's total norm is then only bounded by C·√L (L segments), so the
/// Gaussian noise σC buys the privacy of multiplier σ/√L — per-tensor clipping WEAKENS the guarantee.
/// Shapes: D [m,P] float (any device) → norms [m] (D's dtype and device). Units: L2 norm in parameter units.
/// Throws: Error(Config) if C ≤ 0; Error(Internal) if D is not 2-D or a segment lies outside [0, P).
/// Source: McMahan et al. 2018 (Alg. 1, flat clipping); Shi et al. 2023 reference code (per-tensor).
torch::Tensor clip_rows(torch::Tensor& D, double clip_norm, const std::vector<Segment>& segments = {});

/// Number of kept coordinates for density p: k = ⌈p·P⌉, at least 1 and at most P.
/// Throws: Error(Config) if p ∉ (0, 1].
int64_t sparsity_k(double p, int64_t P);

/// Keeps the k = ⌈p·P⌉ largest-magnitude coordinates of every row of D (in place; the rest become 0) and
/// returns the mask. Ties at the k-th magnitude are broken by torch::topk (exactly k are kept).
/// Shapes: D [m,P] → mask [m,P] bool (D's device). Throws: Error(Config) if p ∉ (0, 1].
/// Source: DP-FedSAM-top_k (Shi et al. 2023, arXiv 2305.00873), top-k before clipping and noise.
torch::Tensor topk_rows(torch::Tensor& D, double p);

/// Keeps k = ⌈p·P⌉ uniformly random coordinates of every row (in place) and returns the mask. Row i's
/// coordinates come from the stream (seed, "dp_randk", client_ids[i], round): independent of the data and
/// reproducible. Shapes: D [m,P], client_ids size m → mask [m,P] bool.
/// Throws: Error(Config) if p ∉ (0, 1]; Error(Internal) if client_ids.size() != m.
/// Source: Fed-SMP-rand_k (Hu, Guo, Gong 2022, arXiv 2202.07178).
torch::Tensor randk_rows(torch::Tensor& D, double p, uint64_t seed, int64_t round, const std::vector<int64_t>& client_ids);

/// Adds N(0, std²) noise to every row of D in place. Row i's noise is drawn on the CPU from
/// plexus::torch_generator(stream_key(seed, "dp_noise", client_ids[i], round)) as P standard normals in
/// float32, scaled by std and moved to D's device and dtype. With a mask (sparse updates) the noise is kept
/// only on the mask's coordinates (Fed-SMP convention): noise energy p·P·std² instead of P·std². The draws
/// are the same with or without a mask (masking happens after drawing), so a coordinate's noise does not
/// depend on which other coordinates were kept. For DP-FedAvg std = σ·C/√m.
/// Shapes: D [m,P], client_ids size m, mask [m,P] bool or absent. Units: std in parameter units.
/// Throws: Error(Config) if std < 0; Error(Internal) on shape mismatch.
/// Source: McMahan et al. 2018; Shi et al. 2023 (client-side noise σC/√m); Hu et al. 2022 (masked noise).
void add_gaussian_noise(torch::Tensor& D, double std, uint64_t seed, int64_t round,
                        const std::vector<int64_t>& client_ids, const std::optional<torch::Tensor>& mask = std::nullopt);

/// Per-client noise std for client-side noising: σ·C/√m, so the mean of m uploads has noise std σC/m
/// (equivalently N(0, σ²C²) on the sum). Throws: Error(Config) if σ < 0, C ≤ 0 or m < 1.
double client_noise_std(double noise_multiplier, double clip_norm, int64_t m);

}  // namespace plexus::privacy
