#pragma once
// The heatmap's GL texture: one RGBA8 texture re-specified only when the size changes and updated
// in place with glTexSubImage2D otherwise; GL_NEAREST so cells keep hard edges. Needs a current GL
// context on the calling thread (the UI thread).

#include <cstdint>

#include "profiler-ui/gfx/png_writer.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

class GlTexture : public TextureSink {
 public:
  GlTexture() = default;
  ~GlTexture() override;
  GlTexture(const GlTexture&) = delete;
  GlTexture& operator=(const GlTexture&) = delete;

  ImTextureID Upload(int width, int height, const uint32_t* rgba) override;

 private:
  unsigned int tex_ = 0;
  int width_ = 0;
  int height_ = 0;
};

// Reads the current back buffer (call before swapping) into a top-row-first RGBA image.
RgbaImage ReadBackBuffer(int width, int height);

}  // namespace fm::ui
