#pragma once
// ONNX export: any network built from hwaware's nn modules (the zoo, ZeroBN's extractions,
// SmartScissor's ResNets, LightNAS's architectures) as an ONNX file a deployment runtime reads,
// its eval-mode forward node by node. BN is kept as BatchNormalization or, with fold_bn, folded
// into the conv before it by the formula eval mode runs (nn::fold_batchnorm).
//
//   OnnxExportSummary s = export_onnx(*model, "model.onnx", {.input_chw = {1, 28, 28}, .fold_bn = true});
//
// Optional: this header needs libonnx (Debian's libonnx-dev, protobuf) through the CMake target
// hwaware::onnx; nothing else in hwaware includes it, so the rest builds without libonnx.
#ifndef ONNX_NAMESPACE
#error "hwaware/export/onnx.hpp needs libonnx: link the hwaware::onnx target (Debian: libonnx-dev, libprotobuf-dev)"
#endif

#include <cxxabi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>
#include <unordered_set>
#include <vector>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/nn/blocks.hpp"
#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"

namespace hwaware {

struct OnnxExportOptions {
  Shape input_chw{1, 28, 28};  ///< per-image input shape; the batch dimension stays symbolic ("batch")
  bool fold_bn = false;        ///< fold each ConvBn's BN into its conv (a lone BatchNorm2d stays a node)
  int64_t opset = 13;          ///< the ai.onnx opset the nodes are written for (13 and later)
  std::string graph_name = "hwaware";
};

/// What an export wrote: graph nodes, initializer values (the parameters, folded or not) and the
/// file's size in bytes (0 for an in-memory model).
struct OnnxExportSummary {
  int64_t nodes = 0, params = 0, bytes = 0;
};

/// The ONNX model of `net` in eval mode: one graph input "input" [batch, C, H, W], one output
/// "output" [batch, ...] with the shape `net` gives. Module types are matched exactly (a subclass
/// is not its base, its forward may differ): Sequential, ConvBn, Conv2d, BatchNorm2d, Linear, Act,
/// Pool2d, GlobalAvgPool, Flatten, BasicBlock and MBConv. Throws Error naming the module's type
/// and path for any other module, ShapeError when input_chw does not fit `net`, and Error with
/// the checker's reason when libonnx's checker rejects the graph. Does not change `net`.
::onnx::ModelProto to_onnx_model(nn::Module& net, const OnnxExportOptions& options = {}, OnnxExportSummary* summary = nullptr);

/// Writes to_onnx_model(net, options) to `path`, atomically (write_file_atomically). Throws
/// FileError naming `path` before any work when the file cannot be created there (a missing
/// directory, no permission), and the errors of to_onnx_model.
OnnxExportSummary export_onnx(nn::Module& net, const std::string& path, const OnnxExportOptions& options = {});

// ---------------------------------------------------------------------------------------------
namespace detail {

/// A value flowing through the graph: its name and its per-image shape.
struct OnnxValue {
  std::string name;
  Shape chw;
};

/// A child's path, as the modules name their parameters ("3.body.0").
inline std::string nn_join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

inline std::string demangled_type_name(const nn::Module& m) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(m).name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(typeid(m).name());
}

/// Appends nodes and initializers to one graph; every value name is unique (SSA).
class OnnxGraphBuilder {
 public:
  OnnxGraphBuilder(::onnx::GraphProto& graph, const OnnxExportOptions& options) : graph_(graph), options_(options) {}

  const OnnxExportOptions& options() const { return options_; }
  int64_t params() const { return params_; }

  /// An unused value name made of a module path and a suffix ("3.body.0.conv.weight").
  std::string fresh(const std::string& path, const std::string& what) {
    const std::string base = (path.empty() ? std::string("net") : path) + "." + what;
    std::string name = base;
    for (int i = 1; !used_.insert(name).second; ++i) name = base + "_" + std::to_string(i);
    return name;
  }

  /// An f32 initializer with the given values and dims; returns its name.
  std::string initializer(const std::string& path, const std::string& what, const float* values, const Shape& dims) {
    ::onnx::TensorProto& t = *graph_.add_initializer();
    t.set_name(fresh(path, what));
    t.set_data_type(::onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) t.add_dims(d), n *= d;
    t.set_raw_data(values, static_cast<size_t>(n) * sizeof(float));  // little-endian, as ONNX stores it
    params_ += n;
    return t.name();
  }
  std::string initializer(const std::string& path, const std::string& what, const Tensor& value) {
    const Tensor plain = value.to_plain();
    return initializer(path, what, plain.data(), plain.shape());
  }

  /// A node of `op` reading `inputs`; returns it (its one output is named after `path` and `op`).
  ::onnx::NodeProto& node(const std::string& op, const std::string& path, const std::vector<std::string>& inputs) {
    ::onnx::NodeProto& n = *graph_.add_node();
    n.set_op_type(op);
    n.set_name(fresh(path, op + "_node"));
    for (const auto& i : inputs) n.add_input(i);
    n.add_output(fresh(path, op));
    return n;
  }

  static void attribute(::onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto& a = *n.add_attribute();
    a.set_name(name), a.set_type(::onnx::AttributeProto::INT), a.set_i(v);
  }
  static void attribute(::onnx::NodeProto& n, const std::string& name, float v) {
    auto& a = *n.add_attribute();
    a.set_name(name), a.set_type(::onnx::AttributeProto::FLOAT), a.set_f(v);
  }
  static void attribute(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto& a = *n.add_attribute();
    a.set_name(name), a.set_type(::onnx::AttributeProto::INTS);
    for (int64_t x : v) a.add_ints(x);
  }

 private:
  ::onnx::GraphProto& graph_;
  const OnnxExportOptions& options_;
  std::unordered_set<std::string> used_;
  int64_t params_ = 0;
};

OnnxValue emit_onnx(OnnxGraphBuilder& g, nn::Module& m, const OnnxValue& x, const std::string& path);

/// The shape `m` gives `chw`, by the module's own description (which also checks the channels).
inline Shape onnx_out_chw(const nn::Module& m, const Shape& chw, const std::string& path) {
  std::vector<LayerDesc> scratch;
  return m.describe_layers(chw, scratch, path);
}

inline OnnxValue emit_relu(OnnxGraphBuilder& g, const OnnxValue& x, const std::string& path) {
  return {g.node("Relu", path, {x.name}).output(0), x.chw};
}

inline OnnxValue emit_conv(OnnxGraphBuilder& g, const nn::Conv2d& c, const OnnxValue& x, const std::string& path,
                           const std::string& w, const std::string& b) {
  std::vector<std::string> inputs{x.name, w};
  if (!b.empty()) inputs.push_back(b);
  auto& n = g.node("Conv", path, inputs);
  const auto& o = c.opt;
  g.attribute(n, "kernel_shape", std::vector<int64_t>{c.kernel, c.kernel});
  g.attribute(n, "strides", std::vector<int64_t>{o.stride, o.stride});
  g.attribute(n, "pads", std::vector<int64_t>{o.padding, o.padding, o.padding, o.padding});
  g.attribute(n, "dilations", std::vector<int64_t>{o.dilation, o.dilation});
  g.attribute(n, "group", o.groups);
  return {n.output(0), onnx_out_chw(c, x.chw, path)};
}

inline OnnxValue emit_plain_conv(OnnxGraphBuilder& g, nn::Conv2d& c, const OnnxValue& x, const std::string& path) {
  const std::string w = g.initializer(path, "weight", c.weight.value());
  const std::string b = c.bias ? g.initializer(path, "bias", c.bias->value()) : std::string();
  return emit_conv(g, c, x, path, w, b);
}

inline OnnxValue emit_batchnorm(OnnxGraphBuilder& g, nn::BatchNorm2d& bn, const OnnxValue& x, const std::string& path) {
  auto& n = g.node("BatchNormalization", path,
                   {x.name, g.initializer(path, "weight", bn.gamma.value()), g.initializer(path, "bias", bn.beta.value()),
                    g.initializer(path, "running_mean", bn.running_mean),
                    g.initializer(path, "running_var", bn.running_var)});
  g.attribute(n, "epsilon", bn.eps);
  OnnxValue y{n.output(0), onnx_out_chw(bn, x.chw, path)};
  return bn.fused_relu ? emit_relu(g, y, path + ".relu") : y;
}

inline OnnxValue emit_conv_bn(OnnxGraphBuilder& g, nn::ConvBn& m, const OnnxValue& x, const std::string& path) {
  const std::string conv_path = nn_join(path, "conv");
  if (!g.options().fold_bn) return emit_batchnorm(g, m.bn, emit_plain_conv(g, m.conv, x, conv_path), nn_join(path, "bn"));
  const Tensor w = m.conv.weight.value().to_plain();
  Tensor fw = Tensor::empty(w.shape()), fb = Tensor::empty({w.dim(0)});
  const Tensor bias = m.conv.bias ? m.conv.bias->value().to_plain() : Tensor();
  nn::fold_batchnorm(w, m.conv.bias ? &bias : nullptr, m.bn, fw.data(), fb.data());
  const OnnxValue y = emit_conv(g, m.conv, x, conv_path, g.initializer(conv_path, "weight_folded", fw),
                                g.initializer(conv_path, "bias_folded", fb));
  return m.bn.fused_relu ? emit_relu(g, y, nn_join(path, "relu")) : y;
}

/// [batch, C, H, W] → [batch, C·H·W] when the value is not flat yet.
inline OnnxValue emit_flatten(OnnxGraphBuilder& g, const OnnxValue& x, const std::string& path) {
  if (x.chw.size() == 1) return x;
  auto& n = g.node("Flatten", path, {x.name});
  g.attribute(n, "axis", int64_t{1});
  return {n.output(0), {numel_of(x.chw)}};
}

inline OnnxValue emit_linear(OnnxGraphBuilder& g, nn::Linear& l, const OnnxValue& x, const std::string& path) {
  const OnnxValue flat = emit_flatten(g, x, path + ".flatten");
  std::vector<std::string> inputs{flat.name, g.initializer(path, "weight", l.weight.value())};
  if (l.bias) inputs.push_back(g.initializer(path, "bias", l.bias->value()));
  auto& n = g.node("Gemm", path, inputs);
  g.attribute(n, "transB", int64_t{1});
  return {n.output(0), onnx_out_chw(l, x.chw, path)};
}

inline OnnxValue emit_activation(OnnxGraphBuilder& g, const nn::Act& a, const OnnxValue& x, const std::string& path) {
  switch (a.kind) {
    case Activation::relu: return emit_relu(g, x, path);
    case Activation::sigmoid: return {g.node("Sigmoid", path, {x.name}).output(0), x.chw};
    case Activation::relu6: {
      const float lo = 0.f, hi = 6.f;  // Clip takes its bounds as inputs since opset 11
      return {g.node("Clip", path, {x.name, g.initializer(path, "min", &lo, {}), g.initializer(path, "max", &hi, {})})
                  .output(0),
              x.chw};
    }
  }
  throw Error("export_onnx: activation " + std::to_string(int(a.kind)) + " at '" + path + "' has no ONNX form");
}

inline OnnxValue emit_pool(OnnxGraphBuilder& g, const nn::Pool2d& m, const OnnxValue& x, const std::string& path) {
  const auto& p = m.p;
  auto& n = g.node(p.kind == PoolKind::max ? "MaxPool" : "AveragePool", path, {x.name});
  g.attribute(n, "kernel_shape", std::vector<int64_t>{p.kernel_h, p.kernel_w});
  g.attribute(n, "strides", std::vector<int64_t>{p.stride_h, p.stride_w});
  g.attribute(n, "pads", std::vector<int64_t>{p.pad_h, p.pad_w, p.pad_h, p.pad_w});
  if (p.kind == PoolKind::avg) g.attribute(n, "count_include_pad", int64_t{1});  // as Pool2dParams counts them
  return {n.output(0), onnx_out_chw(m, x.chw, path)};
}

inline OnnxValue emit_global_avg_pool(OnnxGraphBuilder& g, const OnnxValue& x, const std::string& path) {
  // GlobalAveragePool keeps [batch, C, 1, 1]; the module returns [batch, C].
  const OnnxValue pooled{g.node("GlobalAveragePool", path, {x.name}).output(0), {x.chw[0], 1, 1}};
  return emit_flatten(g, pooled, path + ".flatten");
}

inline OnnxValue emit_add(OnnxGraphBuilder& g, const OnnxValue& a, const OnnxValue& b, const std::string& path) {
  check_shapes(a.chw == b.chw, "export_onnx: residual add at '" + path + "'", "the branches' shapes differ", a.chw, b.chw);
  return {g.node("Add", path, {a.name, b.name}).output(0), a.chw};
}

inline OnnxValue emit_sequential(OnnxGraphBuilder& g, nn::Sequential& s, const OnnxValue& x, const std::string& path) {
  OnnxValue h = x;
  for (size_t i = 0; i < s.children.size(); ++i) h = emit_onnx(g, *s.children[i], h, nn_join(path, std::to_string(i)));
  return h;
}

inline OnnxValue emit_basic_block(OnnxGraphBuilder& g, nn::BasicBlock& b, const OnnxValue& x, const std::string& path) {
  const OnnxValue shortcut = b.shortcut ? emit_conv_bn(g, *b.shortcut, x, nn_join(path, "shortcut")) : x;
  const OnnxValue body = emit_sequential(g, b.body, x, nn_join(path, "body"));
  return emit_relu(g, emit_add(g, body, shortcut, nn_join(path, "add")), nn_join(path, "relu"));
}

inline OnnxValue emit_mbconv(OnnxGraphBuilder& g, nn::MBConv& b, const OnnxValue& x, const std::string& path) {
  const OnnxValue body = emit_sequential(g, b.body, x, nn_join(path, "body"));
  return b.residual() ? emit_add(g, body, x, nn_join(path, "add")) : body;
}

/// Dispatch on the exact type (a subclass may override forward, so it is not exported as its base).
inline OnnxValue emit_onnx(OnnxGraphBuilder& g, nn::Module& m, const OnnxValue& x, const std::string& path) {
  const std::type_info& t = typeid(m);
  if (t == typeid(nn::Sequential)) return emit_sequential(g, static_cast<nn::Sequential&>(m), x, path);
  if (t == typeid(nn::ConvBn)) return emit_conv_bn(g, static_cast<nn::ConvBn&>(m), x, path);
  if (t == typeid(nn::Conv2d)) return emit_plain_conv(g, static_cast<nn::Conv2d&>(m), x, path);
  if (t == typeid(nn::BatchNorm2d)) return emit_batchnorm(g, static_cast<nn::BatchNorm2d&>(m), x, path);
  if (t == typeid(nn::Linear)) return emit_linear(g, static_cast<nn::Linear&>(m), x, path);
  if (t == typeid(nn::Act)) return emit_activation(g, static_cast<nn::Act&>(m), x, path);
  if (t == typeid(nn::Pool2d)) return emit_pool(g, static_cast<nn::Pool2d&>(m), x, path);
  if (t == typeid(nn::GlobalAvgPool)) return emit_global_avg_pool(g, x, path);
  if (t == typeid(nn::Flatten)) return emit_flatten(g, x, path);
  if (t == typeid(nn::BasicBlock)) return emit_basic_block(g, static_cast<nn::BasicBlock&>(m), x, path);
  if (t == typeid(nn::MBConv)) return emit_mbconv(g, static_cast<nn::MBConv&>(m), x, path);
  throw Error("export_onnx: the module at '" + (path.empty() ? std::string("(the network)") : path) + "' is a " +
              demangled_type_name(m) +
              ", which has no ONNX form (exportable: Sequential, ConvBn, Conv2d, BatchNorm2d, Linear, Act, Pool2d, "
              "GlobalAvgPool, Flatten, BasicBlock, MBConv)");
}

/// A graph input or output of f32 [batch, ...chw].
inline void set_onnx_io(::onnx::ValueInfoProto& v, const std::string& name, const Shape& chw) {
  v.set_name(name);
  auto& tensor = *v.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(::onnx::TensorProto::FLOAT);
  auto& shape = *tensor.mutable_shape();
  shape.add_dim()->set_dim_param("batch");
  for (int64_t d : chw) shape.add_dim()->set_dim_value(d);
}

/// Names the graph's final value "output": renames the node output that produced it, or adds an
/// Identity when the network is empty (the output is the input).
inline void name_onnx_output(::onnx::GraphProto& graph, const std::string& value) {
  for (int i = graph.node_size() - 1; i >= 0; --i)
    for (auto& out : *graph.mutable_node(i)->mutable_output())
      if (out == value) {
        out = "output";
        return;
      }
  auto& n = *graph.add_node();
  n.set_op_type("Identity"), n.set_name("output_identity"), n.add_input(value), n.add_output("output");
}

}  // namespace detail

inline ::onnx::ModelProto to_onnx_model(nn::Module& net, const OnnxExportOptions& o, OnnxExportSummary* summary) {
  check_shapes(o.input_chw.size() == 3 && o.input_chw[0] > 0 && o.input_chw[1] > 0 && o.input_chw[2] > 0,
               "export_onnx", "input_chw must be three positive sizes (C, H, W)", o.input_chw);
  if (o.opset < 13) throw Error("export_onnx: opset " + std::to_string(o.opset) + " is older than 13, the oldest this exporter writes");
  ::onnx::ModelProto model;
  model.set_ir_version(7);  // the IR version of opset 13; later runtimes read it
  model.set_producer_name("hwaware");
  model.set_producer_version("0.1.0");
  auto& opset = *model.add_opset_import();
  opset.set_domain(""), opset.set_version(o.opset);
  auto& graph = *model.mutable_graph();
  graph.set_name(o.graph_name);
  detail::OnnxGraphBuilder g(graph, o);
  const detail::OnnxValue in{"input", o.input_chw};
  const detail::OnnxValue out = detail::emit_onnx(g, net, in, "");
  detail::name_onnx_output(graph, out.name);
  detail::set_onnx_io(*graph.add_input(), "input", o.input_chw);
  detail::set_onnx_io(*graph.add_output(), "output", out.chw);
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(std::string("export_onnx: libonnx's checker rejects the graph: ") + e.what());
  }
  if (summary) *summary = {graph.node_size(), g.params(), 0};
  return model;
}

inline OnnxExportSummary export_onnx(nn::Module& net, const std::string& path, const OnnxExportOptions& options) {
  AtomicFile(path).discard();  // the target's directory takes a new file: checked before any work
  OnnxExportSummary summary;
  const ::onnx::ModelProto model = to_onnx_model(net, options, &summary);
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("export_onnx: protobuf could not serialise the model for '" + path + "'");
  write_file_atomically(path, bytes);
  summary.bytes = static_cast<int64_t>(bytes.size());
  return summary;
}

}  // namespace hwaware
