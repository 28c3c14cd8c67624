#pragma once
// Autograd: a Variable is a handle to a Node holding a value, its gradient and a backward closure
// that captures only what the backward kernel needs. backward() walks the graph in reverse
// topological order; intermediate gradients and closures are released as soon as they are used.
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

/// Adds g to the node's gradient (g is taken over when the node has none yet).
inline void accumulate_grad(Node& n, Tensor g);
/// Same, for input slot i of an op's node (a null slot is an absent optional input).
inline void accumulate_input_grad(Node& self, size_t i, Tensor g) {
  if (self.inputs[i]) accumulate_grad(*self.inputs[i], std::move(g));
}
inline bool input_requires_grad(const Node& self, size_t i) { return self.inputs[i] && self.inputs[i]->requires_grad; }

inline void accumulate_grad(Node& n, Tensor g) {
  if (!n.requires_grad || !g.defined()) return;
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
  Tensor& grad() { return node_->grad; }
  const Tensor& grad() const { return node_->grad; }
  bool requires_grad() const { return node_->requires_grad; }
  void set_requires_grad(bool r) { node_->requires_grad = r; }
  void zero_grad() { node_->grad = Tensor(); }
  const std::shared_ptr<Node>& node() const { return node_; }

  /// Backpropagates from this (scalar) variable with seed 1.
  void backward() {
    check_shapes(value().numel() == 1, "backward", "needs a scalar; pass a seed gradient otherwise", shape());
    backward(Tensor::full(shape(), 1.f));
  }

  /// Backpropagates a seed gradient of this variable's shape.
  void backward(const Tensor& seed) {
    check_shapes(seed.shape() == shape(), "backward", "seed shape differs from the variable's", seed.shape(), shape());
    // Post-order (inputs before the nodes that use them); shared_ptrs keep every node alive while
    // the walk below releases the graph's own links.
    std::vector<std::shared_ptr<Node>> order;
    std::unordered_set<Node*> seen;
    std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{node_, 0}};
    seen.insert(node_.get());
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
    accumulate_grad(*node_, seed);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = it->get();
      if (n->released)
        throw Error(std::string("backward: the graph through '") + n->op +
                    "' was already used by an earlier backward pass; recompute the forward");
      if (!n->backward_fn) continue;  // leaf: keeps its grad
      if (n->grad.defined()) n->backward_fn(*n);
      // Free what the graph held: this node's gradient and captured tensors are no longer needed.
      n->grad = Tensor();
      n->backward_fn = nullptr;
      n->inputs.clear();
      n->released = true;
    }
  }

 private:
  std::shared_ptr<Node> node_;
};

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
