#pragma once
// Learning-rate schedules as a function of the global step: linear warm-up, then constant, step
// decay or cosine annealing to zero.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"

namespace hwaware::optim {

enum class ScheduleKind : uint8_t { constant, step, cosine };

inline ScheduleKind parse_schedule(const std::string& s) {
  if (s == "constant") return ScheduleKind::constant;
  if (s == "step") return ScheduleKind::step;
  if (s == "cosine") return ScheduleKind::cosine;
  throw Error("unknown schedule '" + s + "' (choose constant, step or cosine)");
}

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::cosine;
  float base_lr = 0.05f;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  std::vector<double> milestones = {0.5, 0.75};  // step decay: fractions of the run
  float gamma = 0.1f;                            // step decay factor

  float at(int64_t step) const {
    if (warmup_steps > 0 && step < warmup_steps) return base_lr * float(step + 1) / float(warmup_steps);
    const double t = double(step - warmup_steps) / double(std::max<int64_t>(1, total_steps - warmup_steps));
    switch (kind) {
      case ScheduleKind::constant: return base_lr;
      case ScheduleKind::step: {
        float lr = base_lr;
        for (double m : milestones)
          if (t >= m) lr *= gamma;
        return lr;
      }
      case ScheduleKind::cosine: return float(0.5 * base_lr * (1 + std::cos(std::numbers::pi * std::min(t, 1.0))));
    }
    return base_lr;
  }
};

}  // namespace hwaware::optim
