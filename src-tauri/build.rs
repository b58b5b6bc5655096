//! Tauri's build step: reads `tauri.conf.json` and the icon into the build
//! (`tauri::generate_context!`) and generates the (empty) permission set.

fn main() {
    tauri_build::build();
}
