// dma_attention._C: the CUDA attention's autograd node in C++.
//
// A Python torch.autograd.Function costs more per forward + backward than a
// whole FlashAttention call at small shapes (run 33: ~160 us of host time
// with no kernel launched). This extension does what PyTorch's generated
// autograd code does for its own ops instead: the forward allocates O and
// LSE, launches the forward plan and, when a gradient is wanted, attaches a
// C++ Node to O; the autograd engine then calls the Node's apply with dO,
// which allocates the gradients and launches the backward plan (memset,
// Delta, backward, conversion) without entering Python.
//
// The plans are the runtime's (libdma_runtime.so, built by the Python
// package); Python builds them, with every argument check, once per call
// signature and hands their handles and shapes to an AttentionPlans. The
// runtime's dma_plan_launch comes in as a function pointer, so this module
// does not link the runtime (or CUDA) itself.

#include <torch/extension.h>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

namespace {

// int dma_plan_launch(const dma_plan *, void *const *data, void *stream,
//                     char *error, size_t errorSize)
using LaunchFn = int (*)(const void *, void *const *, void *, char *, size_t);

constexpr int kForwardSlots = 12; // q k v bias mask keep score thr tie o lse
                                  // workspace
constexpr int kBackwardSlots = 17; // dO q k v o lse (6 mask operands)
                                   // dq dk dv dbias workspace

/// The plans of one attention signature (shapes, dtypes, strides, options)
/// and one `deterministic` choice, shared by every node of that signature.
struct AttentionPlans {
  LaunchFn launch = nullptr;
  const void *forward = nullptr;  // dma_plan *
  const void *backward = nullptr; // dma_plan *
  int64_t workspaceBytes = 0;        // the backward's
  int64_t forwardWorkspaceBytes = 0; // a dense mask's block summary
  std::vector<int64_t> oShape, lseShape, qShape, kShape, vShape, biasShape;
  bool poison = false; // DMA_POISON_OUTPUTS: outputs start as NaN
  // The Python plan objects own the handles above: held so a node that
  // outlives dma_attention.clear_plans() still launches a live plan.
  py::object owners;

  ~AttentionPlans() {
    if (owners) {
      py::gil_scoped_acquire gil;
      owners = py::object();
    }
  }

  void run(const void *plan, void *const *data, int64_t stream) const {
    char error[1024];
    if (launch(plan, data, reinterpret_cast<void *>(stream), error,
               sizeof error))
      throw std::runtime_error(std::string("dma_attention: ") + error);
  }

  at::Tensor output(const std::vector<int64_t> &shape,
                    const at::TensorOptions &options) const {
    if (poison && at::isFloatingType(options.dtype().toScalarType()))
      return at::full(shape, std::numeric_limits<double>::quiet_NaN(),
                      options);
    return at::empty(shape, options);
  }
};

void *dataOf(const at::Tensor &t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

at::Tensor orUndefined(const c10::optional<at::Tensor> &t) {
  return t.has_value() ? *t : at::Tensor();
}

/// dO, dK, dV and dBias of one forward call.
struct AttentionBackward : public Node {
  std::shared_ptr<AttentionPlans> plans;
  int64_t stream = 0; // the forward's: backward ops run on their forward's
  SavedVariable q, k, v, o, lse, bias, mask, keep, score, threshold, tiebreak;

  std::string name() const override { return "DmaAttentionBackward"; }

  void release_variables() override {
    for (SavedVariable *s : {&q, &k, &v, &o, &lse, &bias, &mask, &keep,
                             &score, &threshold, &tiebreak})
      s->reset_data();
  }

  variable_list apply(variable_list &&grads) override {
    at::Tensor gradO = grads[0];
    if (!gradO.defined()) // O did not reach the loss
      return variable_list(4);
    // The plan takes dO contiguous and 16-byte aligned, like O.
    gradO = gradO.contiguous();
    if (reinterpret_cast<uintptr_t>(gradO.data_ptr()) % 16)
      gradO = gradO.clone();
    auto self = shared_from_this();
    at::Tensor tq = q.unpack(), tk = k.unpack(), tv = v.unpack(),
               to = o.unpack(self), tlse = lse.unpack(), tbias = bias.unpack(),
               tmask = mask.unpack(), tkeep = keep.unpack(),
               tscore = score.unpack(), tthr = threshold.unpack(),
               ttie = tiebreak.unpack();
    const AttentionPlans &p = *plans;
    at::Tensor dq = at::empty(p.qShape, tq.options());
    at::Tensor dk = at::empty(p.kShape, tk.options());
    at::Tensor dv = at::empty(p.vShape, tv.options());
    at::Tensor dbias = tbias.defined()
                           ? at::empty(p.biasShape, tq.options())
                           : at::Tensor();
    at::Tensor workspace =
        at::empty({p.workspaceBytes}, tq.options().dtype(at::kByte));
    void *data[kBackwardSlots] = {
        gradO.data_ptr(), dataOf(tq),    dataOf(tk),     dataOf(tv),
        dataOf(to),       dataOf(tlse),  dataOf(tbias),  dataOf(tmask),
        dataOf(tkeep),    dataOf(tscore), dataOf(tthr),  dataOf(ttie),
        dataOf(dq),       dataOf(dk),    dataOf(dv),     dataOf(dbias),
        dataOf(workspace)};
    p.run(p.backward, data, stream);
    return {should_compute_output(0) ? dq : at::Tensor(),
            should_compute_output(1) ? dk : at::Tensor(),
            should_compute_output(2) ? dv : at::Tensor(),
            should_compute_output(3) ? dbias : at::Tensor()};
  }
};

/// O and LSE of one call; O carries a DmaAttentionBackward when grad mode is
/// on and q, k, v or bias requires grad.
std::vector<at::Tensor>
attention(const std::shared_ptr<AttentionPlans> &plans, int64_t stream,
          const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
          const c10::optional<at::Tensor> &biasIn,
          const c10::optional<at::Tensor> &maskIn,
          const c10::optional<at::Tensor> &keepIn,
          const c10::optional<at::Tensor> &scoreIn,
          const c10::optional<at::Tensor> &thresholdIn,
          const c10::optional<at::Tensor> &tiebreakIn) {
  const AttentionPlans &p = *plans;
  at::Tensor bias = orUndefined(biasIn), mask = orUndefined(maskIn),
             keep = orUndefined(keepIn), score = orUndefined(scoreIn),
             threshold = orUndefined(thresholdIn),
             tiebreak = orUndefined(tiebreakIn);
  bool wanted = at::GradMode::is_enabled() &&
                (q.requires_grad() || k.requires_grad() ||
                 v.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (wanted && !p.backward)
    throw std::logic_error("dma_attention: these plans have no backward");
  at::Tensor o = p.output(p.oShape, q.options());
  at::Tensor lse = p.output(p.lseShape, q.options().dtype(at::kFloat));
  {
    // The kernels write O and LSE: no autograd history for this step.
    at::Tensor workspace =
        p.forwardWorkspaceBytes
            ? at::empty({p.forwardWorkspaceBytes}, q.options().dtype(at::kByte))
            : at::Tensor();
    void *data[kForwardSlots] = {
        dataOf(q),        dataOf(k),     dataOf(v),         dataOf(bias),
        dataOf(mask),     dataOf(keep),  dataOf(score),     dataOf(threshold),
        dataOf(tiebreak), dataOf(o),     dataOf(lse),       dataOf(workspace)};
    p.run(p.forward, data, stream);
  }
  if (!wanted)
    return {o, lse};
  auto node = std::shared_ptr<AttentionBackward>(new AttentionBackward(),
                                                 torch::autograd::deleteNode);
  node->plans = plans;
  node->stream = stream;
  node->set_next_edges(torch::autograd::collect_next_edges(q, k, v, bias));
  node->q = SavedVariable(q, false);
  node->k = SavedVariable(k, false);
  node->v = SavedVariable(v, false);
  node->lse = SavedVariable(lse, false);
  node->bias = SavedVariable(bias, false);
  node->mask = SavedVariable(mask, false);
  node->keep = SavedVariable(keep, false);
  node->score = SavedVariable(score, false);
  node->threshold = SavedVariable(threshold, false);
  node->tiebreak = SavedVariable(tiebreak, false);
  // O's history first, then O saved as this node's output (a weak
  // reference back to the node: no cycle).
  torch::autograd::create_gradient_edge(o, node);
  node->o = SavedVariable(o, true);
  return {o, lse};
}

std::shared_ptr<AttentionPlans>
makePlans(int64_t launch, int64_t forward, int64_t backward,
          int64_t workspaceBytes, std::vector<int64_t> oShape,
          std::vector<int64_t> lseShape, std::vector<int64_t> qShape,
          std::vector<int64_t> kShape, std::vector<int64_t> vShape,
          std::vector<int64_t> biasShape, bool poison, py::object owners,
          int64_t forwardWorkspaceBytes) {
  if (!launch || !forward)
    throw std::invalid_argument("dma_attention: no launch function or plan");
  auto p = std::make_shared<AttentionPlans>();
  p->launch = reinterpret_cast<LaunchFn>(static_cast<uintptr_t>(launch));
  p->forward = reinterpret_cast<const void *>(static_cast<uintptr_t>(forward));
  p->backward =
      reinterpret_cast<const void *>(static_cast<uintptr_t>(backward));
  p->workspaceBytes = workspaceBytes;
  p->forwardWorkspaceBytes = forwardWorkspaceBytes;
  p->oShape = std::move(oShape);
  p->lseShape = std::move(lseShape);
  p->qShape = std::move(qShape);
  p->kShape = std::move(kShape);
  p->vShape = std::move(vShape);
  p->biasShape = std::move(biasShape);
  p->poison = poison;
  p->owners = std::move(owners);
  return p;
}

} // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "dma_attention's C++ autograd node for the CUDA attention";
  py::class_<AttentionPlans, std::shared_ptr<AttentionPlans>>(
      m, "AttentionPlans");
  m.def("plans", &makePlans, py::arg("launch"), py::arg("forward"),
        py::arg("backward"), py::arg("workspace_bytes"), py::arg("o_shape"),
        py::arg("lse_shape"), py::arg("q_shape"), py::arg("k_shape"),
        py::arg("v_shape"), py::arg("bias_shape"), py::arg("poison"),
        py::arg("owners"), py::arg("forward_workspace_bytes") = 0,
        "The plans of one signature: runtime handles (integers), shapes and "
        "the Python objects that own the handles.");
  m.def("attention", &attention,
        "(O, LSE) of one call through its plans, on `stream` (a "
        "cudaStream_t as an integer); O gets a C++ autograd node when a "
        "gradient is wanted.");
}
