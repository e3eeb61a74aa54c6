# Conan 2 recipe for seqlm, laid out as conan-center-index's header-only template. One recipe
# for both places it lives:
#   - in this repository, `conan create . --build=missing` packages the checkout (the recipe
#     folder holds include/, so export_sources() takes it) and runs test_package/;
#   - as conan-center-index's recipes/seqlm/all/ (this file, conandata.yml and test_package/,
#     no checkout beside them), `conan create all --version 0.2.0` takes the tagged release
#     archive named in conandata.yml (url + sha256) in source().
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, get, load
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class SeqlmConan(ConanFile):
    name = "seqlm"
    description = "Header-only C++17 neural sequence models: train, sample and ship small language models"
    license = "MIT"
    url = "https://github.com/conan-io/conan-center-index"
    homepage = "https://github.com/seqlm/seqlm"  # placeholder until the public repository exists
    topics = ("machine-learning", "lstm", "gru", "language-model", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"openmp": [True, False]}
    default_options = {"openmp": True}
    no_copy_source = True

    @property
    def _min_cppstd(self):
        return 17

    @property
    def _compilers_minimum_version(self):
        return {"gcc": "9", "clang": "10", "apple-clang": "12"}

    def set_version(self):
        # In the repository the single version number lives in CMakeLists.txt:
        # project(seqlm VERSION x.y.z ...). conan-center-index passes --version instead.
        cmakelists = os.path.join(self.recipe_folder, "CMakeLists.txt")
        if not self.version and os.path.exists(cmakelists):
            self.version = load(self, cmakelists).split("project(seqlm VERSION ", 1)[1].split()[0]

    def export_sources(self):
        # Only in the repository: package the checkout itself.
        if os.path.isdir(os.path.join(self.recipe_folder, "include", "seqlm")):
            copy(self, "include/*", src=self.recipe_folder, dst=self.export_sources_folder)
            copy(self, "LICENSE", src=self.recipe_folder, dst=self.export_sources_folder)

    def config_options(self):
        # Apple's clang ships no OpenMP runtime.
        if self.settings.compiler == "apple-clang":
            self.options.openmp = False

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # seqlm's public headers include Eigen's and xsimd's. xsimd 8.1 (Debian 12) through 14.
        self.requires("eigen/3.4.0", transitive_headers=True)
        self.requires("xsimd/[>=8.1.0 <15]", transitive_headers=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.compiler.get_safe("cppstd"):
            check_min_cppstd(self, self._min_cppstd)
        minimum_version = self._compilers_minimum_version.get(str(self.settings.compiler), False)
        if minimum_version and Version(self.settings.compiler.version) < minimum_version:
            raise ConanInvalidConfiguration(
                f"{self.ref} requires C++{self._min_cppstd}, which your compiler does not support.")
        # The file code is POSIX only (io/posix_file.hpp stops other systems with an #error).
        if self.settings.os == "Windows":
            raise ConanInvalidConfiguration(f"{self.ref} needs POSIX file APIs; Windows is not supported yet")

    def source(self):
        # From conan-center-index: the tagged release (conandata.yml). From the repository the
        # exported checkout is already here.
        if not os.path.isdir(os.path.join(self.source_folder, "include", "seqlm")):
            get(self, **self.conan_data["sources"][self.version], strip_root=True)

    def build(self):
        pass  # header-only

    def package(self):
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "seqlm")
        self.cpp_info.set_property("cmake_target_name", "seqlm::seqlm")
        self.cpp_info.set_property("pkg_config_name", "seqlm")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread", "m"]  # std::thread in train/fit.hpp
        if self.options.openmp:
            # What the CMake option SEQLM_OPENMP does: the compiler's own OpenMP runtime.
            flag = "/openmp" if self.settings.compiler == "msvc" else "-fopenmp"
            self.cpp_info.cxxflags = [flag]
            self.cpp_info.sharedlinkflags = [flag]
            self.cpp_info.exelinkflags = [flag]
