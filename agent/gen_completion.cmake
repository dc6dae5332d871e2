# Write the bash completion script of the agent binary AGENT to OUT
# (`agent completion bash`: made from its command table).
execute_process(COMMAND ${AGENT} completion bash OUTPUT_FILE ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "agent completion bash failed: ${rc}")
endif()
