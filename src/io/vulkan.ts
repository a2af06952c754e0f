/**
 * Whether a Vulkan loader can be found, for WebGPU on Dawn (onnxruntime-node's WebGPU provider and
 * tfjs's WebGPU backend through the `webgpu` package both run on Vulkan on Linux). Without one,
 * Dawn prints a two-line warning to stderr before failing: checked first, a refusal is one clean
 * reason.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Folders where Linux distributions keep shared libraries, searched after LD_LIBRARY_PATH. */
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/lib', '/usr/local/lib'];

/** The refusal when {@link vulkanLoaderPresent} is false. */
export const NO_VULKAN_LOADER = "the Vulkan loader (libvulkan.so.1) is not installed, and WebGPU runs on Vulkan here (apt-get install libvulkan1, plus the GPU driver's Vulkan ICD)";

export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIBRARY_DIRS];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

/** Whether VK_ICD_FILENAMES points Vulkan at SwiftShader (Chromium's software renderer: tests only). */
export function softwareVulkan(): boolean {
  return /swiftshader/i.test(process.env.VK_ICD_FILENAMES ?? '');
}
