/* Part of fe_instantiate.h: drops a kernel's instantiation settings after its last use. */
#undef FE_IMPL
#undef FE_EACH_VALUE
#undef FE_EACH_HALF
#undef FE_EACH_INDEX
