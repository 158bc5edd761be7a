#include "scheduler/hot_pool.h"

#include "common/check.h"

namespace fm::sched {

const char* SlotStateName(SlotState s) {
  switch (s) {
    case SlotState::kFree:
      return "Free";
    case SlotState::kFetching:
      return "Fetching";
    case SlotState::kHot:
      return "Hot";
    case SlotState::kCached:
      return "Cached";
    case SlotState::kDirty:
      return "Dirty";
    case SlotState::kWritingBack:
      return "WritingBack";
  }
  return "?";
}

HotPool::HotPool(int32_t slots_total) : slots_(static_cast<size_t>(slots_total)) {
  FM_CHECK(slots_total >= 0);
  for (int32_t s = 0; s < slots_total; ++s) free_.insert(free_.end(), s);
}

int32_t HotPool::CountInState(SlotState state) const {
  int32_t n = 0;
  for (const SlotInfo& i : slots_) n += i.state == state ? 1 : 0;
  return n;
}

void HotPool::Claim(SlotId s, RequestId owner, PageIndex page, SlotState state) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(state == SlotState::kFetching || state == SlotState::kDirty);
  FM_CHECK_MSG(i.state == SlotState::kFree || i.state == SlotState::kCached,
               "victims come only from Free and Cached");
  FM_CHECK(i.refs == 0);
  if (i.state == SlotState::kFree) {
    free_.erase(s.v);
  } else {
    LruRemove(s.v);
  }
  i.state = state;
  i.owner = owner;
  i.page = page;
}

void HotPool::Ref(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.state != SlotState::kFree && i.refs < 2);
  if (i.state == SlotState::kCached) {
    LruRemove(s.v);
    i.state = SlotState::kHot;
  }
  ++i.refs;
}

void HotPool::Unref(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.refs > 0);
  if (--i.refs == 0 && i.state == SlotState::kHot) {
    i.state = SlotState::kCached;
    LruPushNewest(s.v);
  }
}

void HotPool::MarkFetched(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.state == SlotState::kFetching && i.refs > 0);
  i.state = SlotState::kHot;
}

void HotPool::MarkDirty(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK((i.state == SlotState::kHot || i.state == SlotState::kFetching) && i.refs > 0);
  i.state = SlotState::kDirty;
}

void HotPool::StartWriteback(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.state == SlotState::kDirty);
  i.state = SlotState::kWritingBack;
}

void HotPool::FinishWriteback(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.state == SlotState::kWritingBack);
  if (i.refs > 0) {
    i.state = SlotState::kHot;
  } else {
    i.state = SlotState::kCached;
    LruPushNewest(s.v);
  }
}

void HotPool::Release(SlotId s) {
  SlotInfo& i = slots_[static_cast<size_t>(s.v)];
  FM_CHECK(i.refs == 0 && i.state != SlotState::kFree);
  if (i.state == SlotState::kCached) LruRemove(s.v);
  i = SlotInfo{};
  free_.insert(s.v);
}

void HotPool::LruPushNewest(int32_t s) {
  SlotInfo& i = slots_[static_cast<size_t>(s)];
  i.lru_prev = -1;
  i.lru_next = lru_head_;
  if (lru_head_ >= 0) slots_[static_cast<size_t>(lru_head_)].lru_prev = s;
  lru_head_ = s;
  if (lru_tail_ < 0) lru_tail_ = s;
  ++cached_count_;
}

void HotPool::LruRemove(int32_t s) {
  SlotInfo& i = slots_[static_cast<size_t>(s)];
  if (i.lru_prev >= 0) {
    slots_[static_cast<size_t>(i.lru_prev)].lru_next = i.lru_next;
  } else {
    lru_head_ = i.lru_next;
  }
  if (i.lru_next >= 0) {
    slots_[static_cast<size_t>(i.lru_next)].lru_prev = i.lru_prev;
  } else {
    lru_tail_ = i.lru_prev;
  }
  i.lru_prev = i.lru_next = -1;
  --cached_count_;
}

void HotPool::CheckConsistent() const {
  int32_t free_states = 0;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const SlotInfo& i = slots_[s];
    if (i.state == SlotState::kFree) {
      ++free_states;
      FM_CHECK(free_.count(static_cast<int32_t>(s)) == 1 && i.refs == 0);
    }
    if (i.state == SlotState::kCached) FM_CHECK(i.refs == 0);
    if (i.state == SlotState::kHot) FM_CHECK(i.refs > 0);
  }
  FM_CHECK(free_states == static_cast<int32_t>(free_.size()));
  int32_t walked = 0;
  int32_t prev = -1;
  for (int32_t s = lru_head_; s >= 0; s = slots_[static_cast<size_t>(s)].lru_next) {
    FM_CHECK(slots_[static_cast<size_t>(s)].state == SlotState::kCached);
    FM_CHECK(slots_[static_cast<size_t>(s)].lru_prev == prev);
    prev = s;
    ++walked;
    FM_CHECK(walked <= slots_total());
  }
  FM_CHECK(prev == lru_tail_ && walked == cached_count_);
  FM_CHECK(walked == CountInState(SlotState::kCached));
}

}  // namespace fm::sched
