#pragma once
// Autograd: a Variable is a handle to a Node holding a value, its gradient and a backward closure
// that captures only what the backward kernel needs. backward() walks the graph in reverse
// topological order; intermediate gradients and closures are released as soon as they are used,
// unless a Variable asked to keep its gradient (retain_grad) or to see it (register_hook).
#include <functional>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "hwaware/backend/common.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

struct Node {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::vector<std::shared_ptr<Node>> inputs;
  /// Reads this node's grad and accumulates into its inputs' grads.
  std::function<void(Node&)> backward_fn;
  const char* op = "leaf";
  bool released = false;  // its graph was consumed by a backward pass
  bool retains_grad = false;  // a non-leaf keeps its gradient (plain layout) after backward
  /// Called with this node's total gradient of a backward pass, in plain layout.
  std::vector<std::function<void(const Tensor&)>> hooks;
};

namespace detail {
inline bool& grad_mode_slot() {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

inline bool grad_enabled() { return detail::grad_mode_slot(); }

/// Disables graph recording in its scope (inference, optimizer updates, evaluation).
class NoGradGuard {
 public:
  NoGradGuard() : saved_(grad_enabled()) { detail::grad_mode_slot() = false; }
  ~NoGradGuard() { detail::grad_mode_slot() = saved_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool saved_;
};

/// Adds g to the node's gradient (g is taken over when the node has none yet). A leaf's gradient
/// is what users read, so it is kept in plain NCHW whatever layout the backend produced.
inline void accumulate_grad(Node& n, Tensor g);
/// Same, for input slot i of an op's node (a null slot is an absent optional input).
inline void accumulate_input_grad(Node& self, size_t i, Tensor g) {
  if (self.inputs[i]) accumulate_grad(*self.inputs[i], std::move(g));
}
inline bool input_requires_grad(const Node& self, size_t i) { return self.inputs[i] && self.inputs[i]->requires_grad; }

inline void accumulate_grad(Node& n, Tensor g) {
  if (!n.requires_grad || !g.defined()) return;
  if (!n.backward_fn) g = g.to_plain();  // a leaf (or a released node): plain, a view when already so
  if (!n.grad.defined()) {
    n.grad = std::move(g);
    return;
  }
  if (!n.grad.storage_unique()) n.grad = n.grad.clone();  // shared with a sibling: copy on write
  common::accumulate(n.grad, g);
}

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor value, bool requires_grad = false) : node_(std::make_shared<Node>()) {
    node_->value = std::move(value);
    node_->requires_grad = requires_grad;
  }
  explicit Variable(std::shared_ptr<Node> node) : node_(std::move(node)) {}

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return node_->value; }
  Tensor& value() { return node_->value; }
  const Shape& shape() const { return node_->value.shape(); }
  /// dL/d(this) after backward(): for a leaf, or a non-leaf that called retain_grad(), a plain
  /// NCHW tensor on every backend (undefined when no gradient reached it).
  Tensor& grad() { return node_->grad; }
  const Tensor& grad() const { return node_->grad; }
  bool requires_grad() const { return node_->requires_grad; }
  void set_requires_grad(bool r) { node_->requires_grad = r; }
  void zero_grad() { node_->grad = Tensor(); }
  const std::shared_ptr<Node>& node() const { return node_; }

  /// Called before backward(): afterwards grad() of this non-leaf holds dL/d(this) in plain NCHW
  /// layout (converted with to_plain() when the backend produced a blocked or nhwc one), as a
  /// tensor of its own. A leaf always keeps its gradient, so this is a no-op there. Throws Error
  /// when the variable does not require a gradient (none would ever reach it).
  void retain_grad();

  /// Registered before backward(): hook(g) is called once per backward pass that reaches this
  /// variable, g being the total gradient flowing into it in that pass (every use summed), in plain
  /// NCHW layout, before it propagates to the variable's inputs. On a leaf g is this pass's
  /// gradient alone, not the sum with gradients kept from earlier passes; leaf hooks stay for later
  /// passes. g must not be modified. Throws Error when the variable does not require a gradient.
  void register_hook(std::function<void(const Tensor& grad)> hook);

  /// Backpropagates from this variable, which must hold a single element (a loss): the seed
  /// dL/d(this) is 1. Throws ShapeError for any other shape: pass a seed tensor then.
  void backward() {
    check_shapes(value().numel() == 1, "backward", "needs a scalar; pass a seed gradient otherwise", shape());
    backward(Tensor::full(shape(), 1.f));
  }

  /// Backpropagates `seed` = dL/d(this), a tensor of this variable's shape in any layout (a
  /// non-scalar output needs one; ShapeError when the shape differs).
  ///
  /// - Every node that requires a gradient and is reachable from this one receives the sum of
  ///   its consumers' contributions before its own backward closure runs (reverse topological
  ///   order).
  /// - Leaves accumulate: grad() becomes the gradient held before plus this pass's, in plain NCHW
  ///   on every backend. zero_grad() (or an optimizer's) clears it; nothing else does.
  /// - A non-leaf's gradient, closure and links to its inputs are freed once used, so its graph
  ///   serves one backward pass: a second one through it throws Error (recompute the forward).
  ///   retain_grad() called before keeps that non-leaf's gradient of the pass, in plain NCHW.
  /// - Hooks and retain_grad see the node's total for the pass; neither changes the gradients
  ///   other nodes receive.
  void backward(const Tensor& seed);

 private:
  std::shared_ptr<Node> node_;
};

namespace detail {

/// The nodes reachable from `root` through inputs that require a gradient, inputs before the nodes
/// that use them. The shared_ptrs keep every node alive while backward releases the graph's links.
inline std::vector<std::shared_ptr<Node>> backward_post_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen{root.get()};
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      const std::shared_ptr<Node>& child = n->inputs[i++];
      if (child && child->requires_grad && seen.insert(child.get()).second) stack.emplace_back(child, 0);
    } else {
      order.push_back(std::move(n));
      stack.pop_back();
    }
  }
  return order;
}

/// Gradients that hooked nodes hold from earlier passes, set aside while a pass runs so the hooks
/// see that pass's gradient alone.
using EarlierGrads = std::vector<std::pair<Node*, Tensor>>;

/// Runs n's hooks on this pass's gradient, then gives n back its earlier gradient.
inline void run_hooks(Node& n, EarlierGrads& earlier) {
  if (n.grad.defined()) {
    const Tensor g = n.grad.to_plain();
    for (const auto& hook : n.hooks) hook(g);
  }
  for (auto& [node, g] : earlier)
    if (node == &n && g.defined()) accumulate_grad(n, std::exchange(g, Tensor()));
}

/// One node of the reverse walk: hooks, then its backward closure, then the release of its graph.
inline void backward_step(Node& n, EarlierGrads& earlier) {
  if (n.released)
    throw Error(std::string("backward: the graph through '") + n.op +
                "' was already used by an earlier backward pass; recompute the forward");
  if (!n.hooks.empty()) run_hooks(n, earlier);
  if (!n.backward_fn) return;  // leaf: keeps its grad
  if (n.grad.defined()) n.backward_fn(n);
  // Free what the graph held: this node's gradient (unless retained) and captured tensors.
  if (n.retains_grad && n.grad.defined()) {
    n.grad = n.grad.to_plain();
    if (!n.grad.storage_unique()) n.grad = n.grad.clone();  // its own, not an input's gradient
  } else {
    n.grad = Tensor();
  }
  n.backward_fn = nullptr;
  n.inputs.clear();
  n.hooks.clear();
  n.released = true;
}

}  // namespace detail

inline void Variable::retain_grad() {
  if (!requires_grad())
    throw Error(std::string("retain_grad: the variable (op '") + node_->op + "') does not require a gradient");
  node_->retains_grad = true;
}

inline void Variable::register_hook(std::function<void(const Tensor& grad)> hook) {
  if (!requires_grad())
    throw Error(std::string("register_hook: the variable (op '") + node_->op + "') does not require a gradient");
  node_->hooks.push_back(std::move(hook));
}

inline void Variable::backward(const Tensor& seed) {
  check_shapes(seed.shape() == shape(), "backward", "seed shape differs from the variable's", seed.shape(), shape());
  std::vector<std::shared_ptr<Node>> order = detail::backward_post_order(node_);
  detail::EarlierGrads earlier;
  for (const auto& n : order)
    if (!n->hooks.empty() && n->grad.defined()) earlier.emplace_back(n.get(), std::exchange(n->grad, Tensor()));
  try {
    accumulate_grad(*node_, seed);
    for (auto it = order.rbegin(); it != order.rend(); ++it) detail::backward_step(**it, earlier);
  } catch (...) {
    // A throwing kernel or hook: the gradients set aside go back, as if there had been no hooks.
    for (auto& [node, g] : earlier)
      if (g.defined()) accumulate_grad(*node, std::exchange(g, Tensor()));
    throw;
  }
}

/// Wraps an op's output; records `fn` when grad mode is on and some input requires a gradient.
template <class Fn>
Variable make_result(Tensor value, std::initializer_list<const Variable*> inputs, const char* op, Fn&& fn) {
  auto node = std::make_shared<Node>();
  node->value = std::move(value);
  node->op = op;
  if (grad_enabled()) {
    for (const Variable* v : inputs)
      if (v && v->defined() && v->requires_grad()) node->requires_grad = true;
    if (node->requires_grad) {
      // Slots stay positional (an absent optional input is a null slot) so closures index them.
      for (const Variable* v : inputs) node->inputs.push_back(v && v->defined() ? v->node() : nullptr);
      node->backward_fn = std::forward<Fn>(fn);
    }
  }
  return Variable(std::move(node));
}

}  // namespace hwaware
